# Reference values for efficacy.measurement (tests/test_measurement.py).
# Run from the repository root:  Rscript tests/reference/measurement.R
# Writes tests/reference/measurement_holzinger.json (data embedded, R calls and versions recorded).
suppressPackageStartupMessages({ library(jsonlite); library(lavaan); library(semTools) })
hs <- HolzingerSwineford1939[, paste0("x", 1:9)]
mod <- "visual =~ x1 + x2 + x3\n textual =~ x4 + x5 + x6\n speed =~ x7 + x8 + x9"
h2 <- htmt(mod, data = hs, htmt2 = TRUE)
h1 <- htmt(mod, data = hs, htmt2 = FALSE)
out <- list(
  source = list(calls = c("semTools::htmt(mod, data = HolzingerSwineford1939[, x1:x9], htmt2 = TRUE)",
                          "semTools::htmt(mod, data = ..., htmt2 = FALSE)"),
                R = R.version.string, lavaan = as.character(packageVersion("lavaan")),
                semTools = as.character(packageVersion("semTools"))),
  data = as.list(hs),
  scales = list(visual = paste0("x", 1:3), textual = paste0("x", 4:6), speed = paste0("x", 7:9)),
  htmt2 = unclass(h2), htmt = unclass(h1))
write_json(out, file.path("tests", "reference", "measurement_holzinger.json"), digits = NA, auto_unbox = TRUE, pretty = TRUE)
fit <- cfa(mod, data = HolzingerSwineford1939)
fm <- fitMeasures(fit, c("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr", "loglik", "aic", "bic",
                         "baseline.chisq", "baseline.df", "npar"))
write_json(list(source = list(call = "lavaan::cfa(mod, data = HolzingerSwineford1939); fitMeasures(fit)",
                              R = R.version.string, lavaan = as.character(packageVersion("lavaan"))),
                fit = as.list(unclass(fm)),
                loadings = subset(parameterEstimates(fit), op == "=~")[, c("lhs", "rhs", "est")]),
           file.path("tests", "reference", "measurement_cfa_holzinger.json"), digits = NA, auto_unbox = TRUE, pretty = TRUE)
write_json(list(source = list(call = "semTools::AVE(lavaan::cfa(mod, data = HolzingerSwineford1939))",
                              semTools = as.character(packageVersion("semTools"))),
                ave = as.list(AVE(fit)), factor_cor = unclass(lavInspect(fit, "cor.lv"))),
           file.path("tests", "reference", "measurement_ave_holzinger.json"), digits = NA, auto_unbox = TRUE, pretty = TRUE)
