# Reference values for tests/test_latent.py (efficacy.mediation.latent.latent_mediation vs lavaan).
# Run from the repo root:
#   .venv/bin/python tests/reference/latent_export.py   # writes tests/reference/latent_mastery.csv
#   Rscript tests/reference/latent.R                     # writes tests/reference/latent_mastery.json
#                                                          and tests/reference/latent_holzinger.json
# Data: bundled data/raw/mastery_trial, cleaned by efficacy (se3 reverse-scored, exclusions applied).
# Design roles from its codebook: treatment treat, mediator the efficacy scale (se1..se6),
# outcome behavior, covariate age.
suppressPackageStartupMessages({library(lavaan); library(jsonlite)})
out_dir <- "tests/reference"
d <- read.csv(file.path(out_dir, "latent_mastery.csv"))
fm <- c("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr", "logl", "aic", "bic", "npar", "ntotal")
nm <- c("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr", "loglik", "aic", "bic", "npar", "n")
take <- function(f, call) {
  fit <- as.list(fitMeasures(f, fm)); names(fit) <- nm
  pe <- parameterEstimates(f)
  ss <- standardizedSolution(f)
  pe$std_all <- ss$est.std
  pe <- pe[, c("lhs", "op", "rhs", "label", "est", "se", "std_all")]
  list(call = call, converged = lavInspect(f, "converged"), fit = fit, estimates = pe)
}
items <- "eff =~ se1 + se2 + se3 + se4 + se5 + se6"
m0 <- paste(items, "eff ~ a*treat", "behavior ~ b*eff + c*treat", "ind := a*b", "tot := c + a*b", sep = "\n")
m1 <- paste(items, "eff ~ a*treat + age", "behavior ~ b*eff + c*treat + age", "ind := a*b",
            "tot := c + a*b", sep = "\n")
res <- list(
  source = list(script = "tests/reference/latent.R", data = "tests/reference/latent_mastery.csv",
                R = R.version.string, lavaan = as.character(packageVersion("lavaan")),
                note = "sem() defaults: first loading fixed to 1, fixed.x = TRUE, ML; delta-method SE for :="),
  model = m0, model_cov = m1,
  listwise = take(sem(m0, data = d), "sem(model, data = d)"),
  listwise_cov = take(sem(m1, data = d), "sem(model_cov, data = d)"),
  fiml = take(sem(m0, data = d, missing = "ml"), "sem(model, data = d, missing = 'ml')"),
  fiml_cov = take(sem(m1, data = d, missing = "ml"), "sem(model_cov, data = d, missing = 'ml')")
)
# lavaan's own bootstrap (percentile) of the listwise model with age, for a Monte Carlo check of our CI
set.seed(20261129)
fb <- sem(m1, data = d, se = "bootstrap", bootstrap = 2000)
pb <- parameterEstimates(fb, boot.ci.type = "perc")
res$listwise_cov_boot <- list(call = "set.seed(20261129); sem(model_cov, data = d, se = 'bootstrap', bootstrap = 2000); parameterEstimates(fit, boot.ci.type = 'perc')",
                              estimates = pb[pb$label != "", c("label", "est", "se", "ci.lower", "ci.upper")])
writeLines(toJSON(res, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"),
           file.path(out_dir, "latent_mastery.json"))

# Latent mediator AND latent outcome: HolzingerSwineford1939 (tests/reference/sem_hs1939.csv, written by
# sem.R), school (Pasteur = 1) -> visual factor -> textual factor, covariate none / x7.
hs <- read.csv(file.path(out_dir, "sem_hs1939.csv"))
hs$pasteur <- as.integer(hs$school == "Pasteur")
m2 <- paste("vis =~ x1 + x2 + x3", "tex =~ x4 + x5 + x6", "vis ~ a*pasteur", "tex ~ b*vis + c*pasteur",
            "ind := a*b", "tot := c + a*b", sep = "\n")
m3 <- paste("vis =~ x1 + x2 + x3", "tex =~ x4 + x5 + x6", "vis ~ a*pasteur + x7", "tex ~ b*vis + c*pasteur + x7",
            "ind := a*b", "tot := c + a*b", sep = "\n")
res2 <- list(
  source = list(script = "tests/reference/latent.R", data = "lavaan::HolzingerSwineford1939 via tests/reference/sem_hs1939.csv; pasteur = school == 'Pasteur'",
                R = R.version.string, lavaan = as.character(packageVersion("lavaan"))),
  model = m2, model_cov = m3,
  latent_outcome = take(sem(m2, data = hs), "sem(model, data = hs)"),
  latent_outcome_cov = take(sem(m3, data = hs), "sem(model_cov, data = hs)")
)
writeLines(toJSON(res2, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"),
           file.path(out_dir, "latent_holzinger.json"))
