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

# ---- issue #4 fixtures: full CFA (estimates, std_all, modindices), invariance, PoliticalDemocracy, FIML,
# ---- discriminant chi-square difference. Data written to measurement_hs1939.csv / measurement_hs_missing.csv.
ver <- list(R = R.version.string, lavaan = as.character(packageVersion("lavaan")),
            semTools = as.character(packageVersion("semTools")))
fm <- c("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "rmsea.ci.lower", "rmsea.ci.upper", "srmr",
        "logl", "aic", "bic", "baseline.chisq", "baseline.df", "ntotal")
nm <- c("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "rmsea_ci_low", "rmsea_ci_high", "srmr",
        "loglik", "aic", "bic", "baseline_chisq", "baseline_df", "n")
fitm <- function(f) { x <- as.list(fitMeasures(f, fm)); names(x) <- nm; x }
ests <- function(f) {
  pe <- parameterEstimates(f); ss <- standardizedSolution(f)
  if (is.null(pe$group)) pe$group <- 1L
  pe$std_all <- ss$est.std
  pe[, c("lhs", "op", "rhs", "group", "est", "se", "z", "pvalue", "ci.lower", "ci.upper", "std_all")]
}
hsd <- HolzingerSwineford1939[, c("school", paste0("x", 1:9))]
write.csv(hsd, file.path("tests", "reference", "measurement_hs1939.csv"), row.names = FALSE)
fit <- cfa(mod, data = hsd)
mi <- modindices(fit)
write_json(list(source = c(list(call = "fit <- lavaan::cfa(mod, data = HolzingerSwineford1939); fitMeasures(fit); parameterEstimates(fit); standardizedSolution(fit); modindices(fit)", model = mod), ver),
                fit = fitm(fit), estimates = ests(fit),
                modindices = mi[, c("lhs", "op", "rhs", "mi", "epc", "sepc.all")]),
           file.path("tests", "reference", "measurement_cfa_full_holzinger.json"), digits = NA, auto_unbox = TRUE, pretty = TRUE)
# invariance by school: configural, metric, scalar, strict; lavTestLRT between successive steps
eqs <- list(configural = "", metric = "loadings", scalar = c("loadings", "intercepts"),
            strict = c("loadings", "intercepts", "residuals"))
fits <- lapply(eqs, function(e) cfa(mod, data = hsd, group = "school", group.equal = e))
lrt <- lavTestLRT(fits$configural, fits$metric, fits$scalar, fits$strict)
write_json(list(source = c(list(call = "cfa(mod, data = HolzingerSwineford1939, group = 'school', group.equal = ...); lavTestLRT(configural, metric, scalar, strict)",
                                group_equal = eqs), ver),
                steps = names(eqs), fit = lapply(fits, fitm),
                partial_scalar = list(group_partial = c("x3 ~ 1", "x7 ~ 1"),
                                      fit = fitm(cfa(mod, data = hsd, group = "school", group.equal = c("loadings", "intercepts"),
                                                     group.partial = c("x3 ~ 1", "x7 ~ 1")))),
                lrt = list(chisq_diff = lrt[["Chisq diff"]], df_diff = lrt[["Df diff"]], pvalue = lrt[["Pr(>Chisq)"]])),
           file.path("tests", "reference", "measurement_invariance_holzinger.json"), digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null")
# PoliticalDemocracy structural model (lavaan tutorial)
pdm <- "ind60 =~ x1 + x2 + x3
  dem60 =~ y1 + y2 + y3 + y4
  dem65 =~ y5 + y6 + y7 + y8
  dem60 ~ ind60
  dem65 ~ ind60 + dem60
  y1 ~~ y5
  y2 ~~ y4 + y6
  y3 ~~ y7
  y4 ~~ y8
  y6 ~~ y8"
pfit <- sem(pdm, data = PoliticalDemocracy)
write_json(list(source = c(list(call = "lavaan::sem(model, data = PoliticalDemocracy)", model = pdm), ver),
                data = as.list(PoliticalDemocracy), fit = fitm(pfit), estimates = ests(pfit)),
           file.path("tests", "reference", "measurement_poldem.json"), digits = NA, auto_unbox = TRUE, pretty = TRUE)
# FIML: HS1939 with MCAR holes (set.seed(4); 8% of x1..x9 cells, rows never fully empty)
set.seed(4)
hsm <- hsd
for (v in paste0("x", 1:9)) hsm[[v]][runif(nrow(hsm)) < 0.08] <- NA
write.csv(hsm, file.path("tests", "reference", "measurement_hs_missing.csv"), row.names = FALSE, na = "")
ffit <- cfa(mod, data = hsm, missing = "ml")
write_json(list(source = c(list(call = "lavaan::cfa(mod, data = hsm, missing = 'ml')",
                                data = "HolzingerSwineford1939 with set.seed(4); each x1..x9 cell NA with prob .08 (measurement_hs_missing.csv)"), ver),
                fit = fitm(ffit), estimates = ests(ffit)),
           file.path("tests", "reference", "measurement_fiml_holzinger.json"), digits = NA, auto_unbox = TRUE, pretty = TRUE)
# discriminant validity: two-factor CFA per pair vs factor correlation fixed to 1 (std.lv parameterisation)
sc <- list(visual = paste0("x", 1:3), textual = paste0("x", 4:6), speed = paste0("x", 7:9))
pairs <- combn(names(sc), 2, simplify = FALSE)
disc <- lapply(pairs, function(pr) {
  m <- paste0(pr[1], " =~ ", paste(sc[[pr[1]]], collapse = " + "), "\n", pr[2], " =~ ", paste(sc[[pr[2]]], collapse = " + "))
  f1 <- cfa(m, data = hsd, std.lv = TRUE)
  f0 <- cfa(paste0(m, "\n", pr[1], " ~~ 1*", pr[2]), data = hsd, std.lv = TRUE)
  l <- lavTestLRT(f0, f1)
  list(scale_1 = pr[1], scale_2 = pr[2], chisq_free = fitMeasures(f1, "chisq")[[1]], chisq_fixed = fitMeasures(f0, "chisq")[[1]],
       delta_chisq = l[["Chisq diff"]][2], delta_df = l[["Df diff"]][2], pvalue = l[["Pr(>Chisq)"]][2],
       factor_cor = lavInspect(f1, "cor.lv")[1, 2])
})
write_json(list(source = c(list(call = "per pair: cfa(two-factor, std.lv = TRUE) vs the same with 'f1 ~~ 1*f2'; lavTestLRT(fixed, free)"), ver),
                pairs = disc),
           file.path("tests", "reference", "measurement_discriminant_holzinger.json"), digits = NA, auto_unbox = TRUE, pretty = TRUE)
