# Modification indices of a FIML CFA (lavaan missing = "ml": observed information), for
# tests/test_measurement.py::test_modindices_fiml_match_lavaan.
# Data: measurement_hs_missing.csv (HolzingerSwineford1939 with MCAR holes; see measurement.R).
# Run from the repository root: Rscript tests/reference/modindices_fiml.R
suppressPackageStartupMessages({library(lavaan); library(jsonlite)})
hsm <- read.csv(file.path("tests", "reference", "measurement_hs_missing.csv"))
mod <- "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
fit <- cfa(mod, data = hsm, missing = "ml")
mi <- modindices(fit, sort. = FALSE)
mi <- mi[mi$op %in% c("=~", "~~"), c("lhs", "op", "rhs", "mi", "epc", "sepc.all")]
write_json(list(source = list(call = "lavaan::modindices(cfa(mod, data = hsm, missing = 'ml'), sort. = FALSE)",
                              data = "measurement_hs_missing.csv", lavaan = as.character(packageVersion("lavaan")),
                              R = R.version.string),
                modindices = mi),
           file.path("tests", "reference", "modindices_fiml_holzinger.json"), digits = NA, auto_unbox = TRUE, pretty = TRUE)
