# Reference values for tests/test_stage_estimators.py (issue #18, "Workflow": the stages pass the
# codebook's estimator on). lavaan's MLR / cluster-robust fits of the models the stages fit:
#   latent mediation (efficacy.mediation.latent.latent_mediation(estimator="MLR"[, cluster=]))
#   CLPM / RI-CLPM with MLR and the Satorra-Bentler (2001) scaled difference tests (efficacy.panel).
# Run from the repo root:
#   .venv/bin/python tests/reference/stage_estimators_export.py   # writes the CSV/JSON inputs
#   Rscript tests/reference/stage_estimators.R                     # writes stage_estimators_lavaan.json
suppressPackageStartupMessages({library(lavaan); library(jsonlite)})
out_dir <- "tests/reference"
rob <- c("chisq", "df", "chisq.scaled", "chisq.scaling.factor", "cfi.robust", "rmsea.robust", "ntotal")
take <- function(f, call) {
  pe <- parameterEstimates(f)
  if (is.null(pe$label)) pe$label <- ""
  pe <- pe[, c("lhs", "op", "rhs", "label", "est", "se")]
  list(call = call, converged = lavInspect(f, "converged"), fit = as.list(fitMeasures(f, rob)),
       estimates = pe)
}
# ---- latent mediation, mastery_trial (tests/reference/latent_mastery.csv, see latent.R)
d <- read.csv(file.path(out_dir, "latent_mastery.csv"))
m1 <- paste("eff =~ se1 + se2 + se3 + se4 + se5 + se6", "eff ~ a*treat + age",
            "behavior ~ b*eff + c*treat + age", "ind := a*b", "tot := c + a*b", sep = "\n")
# ---- cluster-robust latent mediation, simulated classrooms
cl <- read.csv(file.path(out_dir, "stage_estimators_classes.csv"))
m2 <- paste("eff =~ i1 + i2 + i3 + i4 + i5", "eff ~ a*treat", "y ~ b*eff + c*treat", "ind := a*b",
            "tot := c + a*b", sep = "\n")
# ---- panel models, weekly_panel wave scores
p <- read.csv(file.path(out_dir, "stage_estimators_panel.csv"))
syn <- fromJSON(file.path(out_dir, "stage_estimators_panel.json"))
pf <- lapply(syn, function(s) lavaan(s, data = p, meanstructure = TRUE, int.ov.free = TRUE, missing = "ml",
                                     estimator = "MLR"))
lrt <- function(a, b, call) {
  t <- lavTestLRT(a, b)   # method "satorra.bentler.2001" for MLR (lavaan's default)
  list(call = call, chisq_diff = t[2, "Chisq diff"], df_diff = t[2, "Df diff"], pvalue = t[2, "Pr(>Chisq)"])
}
res <- list(
  source = list(script = "tests/reference/stage_estimators.R",
                data = c("tests/reference/latent_mastery.csv", "tests/reference/stage_estimators_classes.csv",
                         "tests/reference/stage_estimators_panel.csv"),
                R = R.version.string, lavaan = as.character(packageVersion("lavaan")),
                note = "MLR: sandwich SEs (observed information), Yuan-Bentler scaled test; := by the delta method"),
  latent_listwise = take(sem(m1, data = d, estimator = "MLR"), "sem(m1, data = d, estimator = 'MLR')"),
  latent_fiml = take(sem(m1, data = d, estimator = "MLR", missing = "ml"),
                     "sem(m1, data = d, estimator = 'MLR', missing = 'ml')"),
  latent_cluster = take(sem(m2, data = cl, estimator = "MLR", cluster = "class"),
                        "sem(m2, data = cl, estimator = 'MLR', cluster = 'class')"),
  panel = lapply(pf, function(f) take(f, "lavaan(syntax, data = p, meanstructure = TRUE, int.ov.free = TRUE, missing = 'ml', estimator = 'MLR')")),
  lrt_stationarity = lrt(pf$riclpm, pf$riclpm_stationary, "lavTestLRT(riclpm, riclpm_stationary)"),
  lrt_clpm = lrt(pf$riclpm, pf$clpm, "lavTestLRT(riclpm, clpm)")
)
writeLines(toJSON(res, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"),
           file.path(out_dir, "stage_estimators_lavaan.json"))
