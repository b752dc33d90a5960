# Reference values for tests/test_sem_robust.py (robust ML estimators in efficacy.sem vs lavaan).
# Run from the repository root:  Rscript tests/reference/sem_robust.R
# Reads  tests/reference/sem_hs1939.csv            (lavaan::HolzingerSwineford1939, written by sem.R)
#        tests/reference/measurement_hs_missing.csv (the same data with MCAR holes, written by measurement.R)
# Writes tests/reference/sem_robust_classroom.csv   (simulated students in classrooms, for cluster=)
#        tests/reference/sem_robust_classroom_missing.csv (the same with 7% MCAR item cells)
#        tests/reference/sem_robust_hs1939.json      (MLR / MLM fits: estimates, SEs, fit measures, options)
suppressPackageStartupMessages({library(lavaan); library(jsonlite)})
out_dir <- "tests/reference"
hs <- read.csv(file.path(out_dir, "sem_hs1939.csv"))
hsm <- read.csv(file.path(out_dir, "measurement_hs_missing.csv"))
# FIML with complete exogenous covariates (fixed.x): the holes of hsm, but x1 and x2 complete from hs
hsx <- hsm; hsx$x1 <- hs$x1; hsx$x2 <- hs$x2

# Simulated classroom data: 45 classrooms of 6 to 16 students, two correlated self-efficacy factors with a
# classroom random effect on both factors and on two items (ICCs about .1 to .2), skewed residuals.
set.seed(20240518)
nclass <- 45
size <- sample(6:16, nclass, replace = TRUE)
classroom <- rep(seq_len(nclass), size)
N <- length(classroom)
u1 <- rnorm(nclass, 0, 0.5)[classroom]
u2 <- rnorm(nclass, 0, 0.4)[classroom]
f1 <- u1 + rnorm(N)
f2 <- 0.5 * f1 + u2 + rnorm(N, 0, 0.8)
skew <- function(n) (rchisq(n, 3) - 3) / sqrt(6)
cls <- data.frame(classroom = classroom,
                  y1 = 3 + f1 + 0.6 * skew(N),
                  y2 = 2.5 + 0.8 * f1 + 0.7 * rnorm(N) + rnorm(nclass, 0, 0.3)[classroom],
                  y3 = 3.2 + 0.7 * f1 + 0.7 * skew(N),
                  y4 = 2.8 + f2 + 0.6 * rnorm(N),
                  y5 = 3 + 0.9 * f2 + 0.7 * skew(N) + rnorm(nclass, 0, 0.3)[classroom],
                  y6 = 2.6 + 0.6 * f2 + 0.8 * rnorm(N))
cls[, -1] <- round(cls[, -1], 4)
write.csv(cls, file.path(out_dir, "sem_robust_classroom.csv"), row.names = FALSE)
# two grades (odd / even classroom numbers) for a multi-group cluster-robust fit
cls$grade <- ifelse(cls$classroom %% 2 == 0, "g8", "g7")
# MCAR holes (7% of item cells) for a cluster-robust FIML fit
clm <- cls[, c("classroom", paste0("y", 1:6))]
set.seed(2)
for (v in paste0("y", 1:6)) clm[[v]][runif(nrow(clm)) < 0.07] <- NA
write.csv(clm, file.path(out_dir, "sem_robust_classroom_missing.csv"), row.names = FALSE, na = "")

model <- "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
model2 <- paste0(model, "\ntextual ~ visual\nspeed ~ visual")
model3 <- "x4 ~ x1 + x2\nx5 ~ x1"
model4 <- "x4 ~ x1 + x2\nx5 ~ x1\nx6 ~ x4"
model_cls <- "selfeff =~ y1 + y2 + y3\nengage =~ y4 + y5 + y6"

fm <- c("chisq", "df", "pvalue", "chisq.scaled", "df.scaled", "pvalue.scaled", "chisq.scaling.factor",
        "baseline.chisq", "baseline.df", "baseline.chisq.scaled", "baseline.chisq.scaling.factor",
        "cfi", "tli", "cfi.scaled", "tli.scaled", "cfi.robust", "tli.robust",
        "rmsea", "rmsea.ci.lower", "rmsea.ci.upper",
        "rmsea.scaled", "rmsea.ci.lower.scaled", "rmsea.ci.upper.scaled",
        "rmsea.robust", "rmsea.ci.lower.robust", "rmsea.ci.upper.robust",
        "srmr", "logl", "npar", "ntotal")
take <- function(f, call, estimator) {
  fit <- as.list(fitMeasures(f, fm))
  pe <- parameterEstimates(f)
  if (is.null(pe$group)) pe$group <- 1L
  pe <- pe[, c("lhs", "op", "rhs", "group", "est", "se", "z", "pvalue", "ci.lower", "ci.upper")]
  names(pe)[9:10] <- c("ci_low", "ci_high")
  o <- lavInspect(f, "options")
  list(call = call, converged = lavInspect(f, "converged"),
       options = list(estimator = estimator, se = o$se, test = o$test,
                      information = o$information[1], meanstructure = o$meanstructure,
                      missing = o$missing),
       fit = fit, estimates = pe)
}
cases <- list(
  mlr_cfa = quote(cfa(model, data = hs, estimator = "MLR")),
  mlm_cfa = quote(cfa(model, data = hs, estimator = "MLM")),
  mlr_cfa_meanstructure = quote(cfa(model, data = hs, estimator = "MLR", meanstructure = TRUE)),
  mlr_sem = quote(sem(model2, data = hs, estimator = "MLR")),
  mlm_sem = quote(sem(model2, data = hs, estimator = "MLM")),
  mlr_path = quote(sem(model3, data = hs, estimator = "MLR")),
  mlm_path = quote(sem(model3, data = hs, estimator = "MLM")),
  mlr_fiml = quote(cfa(model, data = hsm, estimator = "MLR", missing = "ml")),
  mlr_fiml_sem = quote(sem(model2, data = hsm, estimator = "MLR", missing = "ml")),
  mlr_fiml_path = quote(sem(model4, data = hsx, estimator = "MLR", missing = "ml")),
  mlr_mg_configural = quote(cfa(model, data = hs, group = "school", estimator = "MLR")),
  mlr_mg_metric = quote(cfa(model, data = hs, group = "school", group.equal = "loadings", estimator = "MLR")),
  mlm_mg_scalar = quote(cfa(model, data = hs, group = "school", group.equal = c("loadings", "intercepts"),
                            estimator = "MLM")),
  mlr_mg_fiml_metric = quote(cfa(model, data = hsm, group = "school", group.equal = "loadings",
                                 missing = "ml", estimator = "MLR")),
  mlr_cluster = quote(cfa(model_cls, data = cls, cluster = "classroom", estimator = "MLR")),
  mlm_cluster = quote(cfa(model_cls, data = cls, cluster = "classroom", estimator = "MLM")),
  mlr_cluster_mg_metric = quote(cfa(model_cls, data = cls, group = "grade", group.equal = "loadings",
                                    cluster = "classroom", estimator = "MLR")),
  mlr_cluster_fiml = quote(cfa(model_cls, data = clm, cluster = "classroom", estimator = "MLR", missing = "ml"))
)
res <- lapply(cases, function(cl) {
  f <- eval(cl)
  take(f, paste(deparse(cl, width.cutoff = 500L), collapse = " "), cl$estimator)
})
out <- c(list(
  source = list(script = "tests/reference/sem_robust.R", R = R.version.string,
                lavaan = as.character(packageVersion("lavaan")),
                data = list(hs = "tests/reference/sem_hs1939.csv (lavaan::HolzingerSwineford1939)",
                            hsm = "tests/reference/measurement_hs_missing.csv (HS1939, set.seed(4), 8% MCAR cells)",
                            hsx = "hsm with x1 and x2 replaced by their complete values from hs",
                            cls = paste("tests/reference/sem_robust_classroom.csv (simulated by this script,",
                                        "set.seed(20240518), 45 classrooms; grade = g8 for even, g7 for odd",
                                        "classroom numbers)"),
                            clm = paste("tests/reference/sem_robust_classroom_missing.csv (cls items with",
                                        "set.seed(2) 7% MCAR cells)")),
                note = "fit = lavaan::fitMeasures(); estimates = lavaan::parameterEstimates()"),
  models = list(model = model, model2 = model2, model3 = model3, model4 = model4, model_cls = model_cls)), res)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null"),
           file.path(out_dir, "sem_robust_hs1939.json"))
