# Reference values for tests/test_sem.py (efficacy.sem vs lavaan).
# Run from the repo root: Rscript tests/reference/sem.R
# Writes tests/reference/sem_hs1939.csv (lavaan::HolzingerSwineford1939, x1..x9)
#        tests/reference/sem_hs1939.json (3-factor CFA, complete data and FIML with holes)
suppressPackageStartupMessages({library(lavaan); library(jsonlite)})
out_dir <- "tests/reference"
hs <- lavaan::HolzingerSwineford1939[, c("id", "school", paste0("x", 1:9))]
write.csv(hs, file.path(out_dir, "sem_hs1939.csv"), row.names = FALSE, na = "")
model <- "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
fm <- c("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "rmsea.ci.lower", "rmsea.ci.upper", "srmr",
        "logl", "aic", "bic", "npar", "ntotal", "baseline.chisq", "baseline.df")
nm <- c("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "rmsea_ci_low", "rmsea_ci_high", "srmr",
        "loglik", "aic", "bic", "npar", "n", "baseline_chisq", "baseline_df")
take <- function(f, call) {
  fit <- as.list(fitMeasures(f, fm)); names(fit) <- nm
  pe <- parameterEstimates(f)
  ss <- standardizedSolution(f)
  pe$std_all <- ss$est.std
  if (is.null(pe$group)) pe$group <- 1L
  pe <- pe[, c("lhs", "op", "rhs", "group", "est", "se", "z", "pvalue", "ci.lower", "ci.upper", "std_all")]
  names(pe)[9:10] <- c("ci_low", "ci_high")
  list(call = call, converged = lavInspect(f, "converged"), fit = fit, estimates = pe)
}
# FIML data: deterministic holes (every 7th row x2, every 5th row x6, every 11th row x9)
hsm <- hs
hsm$x2[seq(1, nrow(hsm), by = 7)] <- NA
hsm$x6[seq(3, nrow(hsm), by = 5)] <- NA
hsm$x9[seq(2, nrow(hsm), by = 11)] <- NA
model2 <- paste0(model, "\ntextual ~ visual\nspeed ~ visual")
model3 <- "x4 ~ x1 + x2\nx5 ~ x1"
res <- list(
  source = list(script = "tests/reference/sem.R", data = "lavaan::HolzingerSwineford1939",
                R = R.version.string, lavaan = as.character(packageVersion("lavaan")),
                missing_rows = "x2 rows 1,8,15,...; x6 rows 3,8,13,...; x9 rows 2,13,24,... (1-based) set to NA"),
  model = model, model2 = model2, model3 = model3,
  cfa = take(cfa(model, data = hs), "cfa(model, data = hs)"),
  cfa_meanstructure = take(cfa(model, data = hs, meanstructure = TRUE), "cfa(model, data = hs, meanstructure = TRUE)"),
  sem_latent_regression = take(sem(model2, data = hs), "sem(model2, data = hs)"),
  sem_path = take(sem(model3, data = hs), "sem(model3, data = hs)"),
  mg_configural = take(cfa(model, data = hs, group = "school"), "cfa(model, data = hs, group = 'school')"),
  mg_metric = take(cfa(model, data = hs, group = "school", group.equal = "loadings"),
                   "cfa(model, data = hs, group = 'school', group.equal = 'loadings')"),
  mg_scalar = take(cfa(model, data = hs, group = "school", group.equal = c("loadings", "intercepts")),
                   "cfa(model, data = hs, group = 'school', group.equal = c('loadings', 'intercepts'))"),
  mg_partial = take(cfa(model, data = hs, group = "school", group.equal = c("loadings", "intercepts"),
                        group.partial = c("x3 ~ 1", "x7 ~ 1")),
                    "cfa(model, data = hs, group = 'school', group.equal = c('loadings', 'intercepts'), group.partial = c('x3 ~ 1', 'x7 ~ 1'))"),
  mg_fiml_metric = take(cfa(model, data = hsm, group = "school", group.equal = "loadings", missing = "ml"),
                        "cfa(model, data = hsm, group = 'school', group.equal = 'loadings', missing = 'ml')"),
  cfa_fiml = take(cfa(model, data = hsm, missing = "ml"), "cfa(model, data = hsm, missing = 'ml')")
)
writeLines(toJSON(res, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null"),
           file.path(out_dir, "sem_hs1939.json"))
