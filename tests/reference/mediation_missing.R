# Reference values for mediation with missing data (FIML) in tests/test_mediation_missing.py
# (efficacy.mediation.missing, issue #19).
# Run from the repository root:  Rscript tests/reference/mediation_missing.R   (5-10 minutes: lavaan's bootstrap)
# Writes tests/reference/mediation_missing_jobs.csv (the data with deleted values) and
# tests/reference/mediation_missing_jobs.json.  Needs lavaan, jsonlite.
#
# Data: JOBS II (mediation::jobs, /work/shared/datasets/jobs_ii.csv), treat -> job_seek -> depress2 with the
# covariates econ_hard, sex, age. Values are deleted with a fixed seed:
#   * age: 2% missing completely at random. With fixed.x = TRUE lavaan deletes these cases (exogenous
#     covariates cannot be missing), which tests that efficacy drops and counts them the same way.
#   * MAR ("_mar" columns): job_seek missing with a probability that depends on treat and econ_hard,
#     depress2 missing depending on treat, sex and age (all observed), about 25% and 30%.
#   * MNAR ("_mnar" columns): job_seek missing more often when job_seek itself is low, depress2 more often
#     when depress2 itself is high (the deleted values drive their own deletion), about 25% and 30%.
# FIML is consistent under MAR, not under MNAR; the fit and its numbers are defined either way, and
# lavaan's are the reference for both.
# Models (lavaan sem, missing = "ml", fixed.x = TRUE, default observed information):
#   single_mar, single_mnar: PROCESS model 4 with covariates, ':=' ind, total, pm
#   parallel_mar: job_seek_mar and econ_hard2_mar in parallel (econ_hard2 = econ_hard with MAR holes, a
#     numeric check of the parallel algebra only), covariates sex, age, residual covariance free
#   serial_mar: treat -> job_seek_mar -> depress1_mar -> depress2_mar, covariates sex, age (numeric
#     check of the serial algebra under FIML; depress1 is pre-treatment)
# Bootstrap: lavaan se = "bootstrap" (1000 resamples, FIML refits) of single_mar: SEs and percentile
# limits of ind and total, and the wall time of that bootstrap (for the benchmark note in the test).
suppressPackageStartupMessages({library(lavaan); library(jsonlite)})
set.seed(20240612)
versions <- list(R = R.version.string, lavaan = as.character(packageVersion("lavaan")),
                 jsonlite = as.character(packageVersion("jsonlite")))
jobs <- read.csv("/work/shared/datasets/jobs_ii.csv")
n <- nrow(jobs)
z <- function(v) (v - mean(v)) / sd(v)
hole <- function(v, p) ifelse(runif(length(v)) < p, NA, v)
d <- data.frame(treat = jobs$treat, econ_hard = jobs$econ_hard, sex = jobs$sex, age = jobs$age)
d$age <- hole(d$age, 0.02)
d$job_seek_mar <- hole(jobs$job_seek, plogis(-1.3 + 0.6 * jobs$treat + 0.5 * z(jobs$econ_hard)))
d$depress2_mar <- hole(jobs$depress2, plogis(-1.0 + 0.4 * jobs$treat - 0.5 * jobs$sex + 0.4 * z(jobs$age)))
d$econ_hard2_mar <- hole(jobs$econ_hard, plogis(-1.6 + 0.5 * jobs$sex))
d$depress1_mar <- hole(jobs$depress1, plogis(-1.5 + 0.5 * jobs$treat))
d$job_seek_mnar <- hole(jobs$job_seek, plogis(-1.4 - 0.9 * z(jobs$job_seek)))
d$depress2_mnar <- hole(jobs$depress2, plogis(-1.1 + 0.9 * z(jobs$depress2)))
write.csv(d, "tests/reference/mediation_missing_jobs.csv", row.names = FALSE, na = "")

single <- function(m, y) paste0('
  ', m, ' ~ a1*treat + econ_hard + sex + age
  ', y, ' ~ b1*', m, ' + cp*treat + econ_hard + sex + age
  ind := a1*b1
  total := cp + a1*b1
  pm := a1*b1 / (cp + a1*b1)
')
models <- list(
  single_mar = single("job_seek_mar", "depress2_mar"),
  single_mnar = single("job_seek_mnar", "depress2_mnar"),
  parallel_mar = '
  job_seek_mar ~ a1*treat + sex + age
  econ_hard2_mar ~ a2*treat + sex + age
  depress2_mar ~ b1*job_seek_mar + b2*econ_hard2_mar + cp*treat + sex + age
  job_seek_mar ~~ econ_hard2_mar
  ind1 := a1*b1
  ind2 := a2*b2
  ind := a1*b1 + a2*b2
  total := cp + a1*b1 + a2*b2
  pm := (a1*b1 + a2*b2) / (cp + a1*b1 + a2*b2)
',
  serial_mar = '
  job_seek_mar ~ a1*treat + sex + age
  depress1_mar ~ a2*treat + d21*job_seek_mar + sex + age
  depress2_mar ~ b1*job_seek_mar + b2*depress1_mar + cp*treat + sex + age
  ind1 := a1*b1
  ind2 := a1*d21*b2
  ind3 := a2*b2
  ind := a1*b1 + a1*d21*b2 + a2*b2
  total := cp + a1*b1 + a1*d21*b2 + a2*b2
  con12 := a1*b1 - a1*d21*b2
  con13 := a1*b1 - a2*b2
  con23 := a1*d21*b2 - a2*b2
')
labelled <- function(fit, ...) {
  pe <- parameterEstimates(fit, ...)
  pe <- pe[pe$label != "", ]
  setNames(lapply(seq_len(nrow(pe)), function(i) as.list(pe[i, intersect(names(pe),
    c("label", "est", "se", "pvalue", "ci.lower", "ci.upper"))])), pe$label)
}
# The models are saturated (df = 0), so their ML estimates are the regressions implied by the saturated
# (EM) mean and covariance; lavaan's EM with a tight tolerance (em.h1.tol = 1e-14) gives them to ~1e-9,
# a sharper reference for the estimates than lavaan's FIML optimiser, which stops on nlminb's absolute
# function tolerance once the discrepancy of the saturated model is ~0 (its estimates are accurate to
# ~5e-6 here; its SEs, from the observed information at that point, to ~1e-8).
from_h1 <- function(fit) {
  S <- lavInspect(fit, "sampstat.h1")$cov
  pt <- parTable(fit)
  reg <- pt[pt$op == "~", ]
  est <- list()
  for (y in unique(reg$lhs)) {
    r <- reg[reg$lhs == y, ]
    b <- solve(S[r$rhs, r$rhs], S[r$rhs, y])
    for (i in seq_len(nrow(r))) if (r$label[i] != "") est[[r$label[i]]] <- b[[r$rhs[i]]]
  }
  def <- pt[pt$op == ":=", ]
  for (i in seq_len(nrow(def))) est[[def$lhs[i]]] <- eval(parse(text = def$rhs[i]), envir = est)
  est
}
fits <- lapply(models, function(m) {
  fit <- suppressWarnings(sem(m, data = d, missing = "ml", fixed.x = TRUE))
  fit_em <- suppressWarnings(sem(m, data = d, missing = "ml", fixed.x = TRUE, em.h1.tol = 1e-14,
                                 em.h1.iter.max = 100000))
  list(model = m, nobs = lavInspect(fit, "nobs"), ntotal = lavInspect(fit, "ntotal"),
       npatterns = lavInspect(fit, "patterns") |> nrow(),
       converged = lavInspect(fit, "converged"), loglik = fitMeasures(fit, "logl")[[1]],
       df = fitMeasures(fit, "df")[[1]], effects = labelled(fit), em_estimates = from_h1(fit_em))
})

R_boot <- 1000
t0 <- proc.time()[["elapsed"]]
fitb <- suppressWarnings(sem(models$single_mar, data = d, missing = "ml", fixed.x = TRUE,
                             se = "bootstrap", bootstrap = R_boot))
elapsed <- proc.time()[["elapsed"]] - t0
bt <- lavInspect(fitb, "boot")
pe_b <- labelled(fitb, boot.ci.type = "perc")
defined <- function(B) {
  a1 <- B[, "a1"]; b1 <- B[, "b1"]; cp <- B[, "cp"]
  cbind(ind = a1 * b1, total = cp + a1 * b1)
}
cn <- colnames(bt)
lab <- parTable(fitb)$label[parTable(fitb)$free > 0]
colnames(bt) <- ifelse(lab != "", lab, cn)
D <- defined(bt)
boot <- lapply(c(ind = "ind", total = "total"), function(e) {
  x <- D[, e]; x <- x[is.finite(x)]
  q <- quantile(x, c(0.025, 0.975)); dens <- density(x, n = 4096)
  list(se = pe_b[[e]]$se, ci_low = pe_b[[e]]$ci.lower, ci_high = pe_b[[e]]$ci.upper, sd_draws = sd(x),
       n_valid = length(x), density_at_ci = approx(dens$x, dens$y, xout = q)$y)
})

writeLines(toJSON(list(
  source = list(
    what = "FIML mediation (lavaan missing = 'ml', fixed.x = TRUE) on JOBS II with values deleted at random (MAR) and not at random (MNAR)",
    call = "sem(model, data = d, missing = 'ml', fixed.x = TRUE); parameterEstimates(); lavInspect(, 'nobs')",
    em_call = "em_estimates: regressions from lavInspect(sem(model, ..., em.h1.tol = 1e-14, em.h1.iter.max = 1e5), 'sampstat.h1') (lavaan's EM saturated moments), ':=' evaluated on them",
    boot_call = "sem(single_mar, ..., se = 'bootstrap', bootstrap = 1000); parameterEstimates(boot.ci.type = 'perc')",
    script = "tests/reference/mediation_missing.R", data = "tests/reference/mediation_missing_jobs.csv",
    original_data = "/work/shared/datasets/jobs_ii.csv (mediation::jobs)", seed = 20240612, versions = versions),
  n_rows = n, n_age_missing = sum(is.na(d$age)),
  fits = fits,
  lavaan_boot = list(model = "single_mar", R = R_boot, effects = boot, elapsed_seconds = elapsed,
                     machine = paste(Sys.info()[["sysname"]], Sys.info()[["machine"]],
                                     "(2 shared cores)"))
), auto_unbox = TRUE, digits = NA, pretty = TRUE), "tests/reference/mediation_missing_jobs.json")
