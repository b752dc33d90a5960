# Reference values for the serial-mediator model (PROCESS model 6) in tests/test_mediation_serial.py
# (efficacy.mediation.serial, issue #19).
# Run from the repository root:  Rscript tests/reference/mediation_serial.R   (2-7 minutes: the bootstraps)
# (SERIAL_ONLY_JOBS=1 Rscript ... rewrites only mediation_serial_jobs.json.)
# Writes tests/reference/mediation_serial_talor.json and mediation_serial_jobs.json.
# Needs lavaan, boot, jsonlite.
#
# 1. Tal-Or et al. (2010) (psych::Tal.Or = tests/reference/mediation_talor_data.csv), Hayes (2018, ch. 5):
#    cond -> import -> pmi -> reaction, without and with the covariates gender and age: lavaan ML
#    (fixed.x = TRUE) estimates, SEs and p values of the paths and of every ':=' effect (specific indirect
#    effects, total indirect, total, pairwise contrasts, proportion mediated).
#    Bootstrap: lavaan se = "bootstrap" (5000 resamples; SEs and percentile limits) and boot::boot with
#    20000 resamples of the lm() fits, BCa limits from boot.ci(type = "bca") with jackknife influence
#    values (L = empinf(type = "jack"), the acceleration efficacy uses), plus the density of the
#    bootstrap draws at each limit (for the limits' Monte Carlo SE in the test).
# 2. JOBS II, three mediators in a chain (treat -> econ_hard -> job_seek -> depress1 -> depress2,
#    covariates sex, age): a numeric check of the three-mediator algebra only (econ_hard and depress1 are
#    measured before randomisation, so this is not a substantive model).
suppressPackageStartupMessages({library(lavaan); library(boot); library(jsonlite)})
set.seed(20240611)
versions <- list(R = R.version.string, lavaan = as.character(packageVersion("lavaan")),
                 boot = as.character(packageVersion("boot")), jsonlite = as.character(packageVersion("jsonlite")))
labelled <- function(fit, ...) {
  pe <- parameterEstimates(fit, ...)
  pe <- pe[pe$label != "", ]
  setNames(lapply(seq_len(nrow(pe)), function(i) as.list(pe[i, intersect(names(pe),
    c("label", "est", "se", "pvalue", "ci.lower", "ci.upper"))])), pe$label)
}
serial2 <- function(x, m1, m2, y, covs = character(0)) {
  cv <- if (length(covs)) paste0(" + ", paste(covs, collapse = " + ")) else ""
  paste0('
  ', m1, ' ~ a1*', x, cv, '
  ', m2, ' ~ a2*', x, ' + d21*', m1, cv, '
  ', y, ' ~ b1*', m1, ' + b2*', m2, ' + cp*', x, cv, '
  ind1 := a1*b1
  ind2 := a1*d21*b2
  ind3 := a2*b2
  ind := a1*b1 + a1*d21*b2 + a2*b2
  total := cp + a1*b1 + a1*d21*b2 + a2*b2
  con12 := a1*b1 - a1*d21*b2
  con13 := a1*b1 - a2*b2
  con23 := a1*d21*b2 - a2*b2
  pm := (a1*b1 + a1*d21*b2 + a2*b2) / (cp + a1*b1 + a1*d21*b2 + a2*b2)
')
}
to <- read.csv("tests/reference/mediation_talor_data.csv")

if (Sys.getenv("SERIAL_ONLY_JOBS") != "1") {
## 1a. deterministic: lavaan ML estimates and delta-method SEs
m0 <- serial2("cond", "import", "pmi", "reaction")
m1 <- serial2("cond", "import", "pmi", "reaction", c("gender", "age"))
fit0 <- sem(m0, data = to, fixed.x = TRUE, meanstructure = TRUE)
fit1 <- sem(m1, data = to, fixed.x = TRUE, meanstructure = TRUE)
lm_total <- coef(lm(reaction ~ cond, data = to))[["cond"]]

## 1b. bootstrap: lavaan (SEs, percentile) and boot (BCa with jackknife acceleration)
fitb <- sem(m0, data = to, fixed.x = TRUE, meanstructure = TRUE, se = "bootstrap", bootstrap = 5000)
pe_b <- labelled(fitb, boot.ci.type = "perc")
stat <- function(d, i) {
  d <- d[i, ]
  a <- coef(lm(import ~ cond, data = d)); p <- coef(lm(pmi ~ cond + import, data = d))
  r <- coef(lm(reaction ~ cond + import + pmi, data = d))
  a1 <- a[["cond"]]; a2 <- p[["cond"]]; d21 <- p[["import"]]; b1 <- r[["import"]]; b2 <- r[["pmi"]]
  ind <- c(ind1 = a1 * b1, ind2 = a1 * d21 * b2, ind3 = a2 * b2)
  c(ind, ind = sum(ind), con12 = ind[[1]] - ind[[2]], con13 = ind[[1]] - ind[[3]], con23 = ind[[2]] - ind[[3]])
}
R_boot <- 20000
bt <- boot(to, stat, R = R_boot)
bca <- lapply(seq_along(bt$t0), function(j) {
  L <- empinf(bt, index = j, type = "jack")
  ci <- boot.ci(bt, conf = 0.95, type = c("bca", "perc"), index = j, L = L)
  x <- bt$t[, j]
  dens <- density(x, n = 4096)
  lim_bca <- ci$bca[4:5]; lim_perc <- ci$percent[4:5]
  list(estimate = bt$t0[[j]], sd_boot = sd(x), bca = lim_bca, bca_levels = ci$bca[2:3], perc = lim_perc,
       density_at_bca = approx(dens$x, dens$y, xout = lim_bca)$y,
       density_at_perc = approx(dens$x, dens$y, xout = lim_perc)$y)
})
names(bca) <- names(bt$t0)

writeLines(toJSON(list(
  source = list(
    what = "PROCESS model 6 (serial mediators, Hayes 2018 ch. 5) on psych::Tal.Or: lavaan ':=' effects and bootstrap",
    lavaan_call = "sem(model, data = Tal.Or, fixed.x = TRUE, meanstructure = TRUE) (estimator ML, delta-method SEs of ':=')",
    lavaan_boot_call = "sem(model0, ..., se = 'bootstrap', bootstrap = 5000); parameterEstimates(boot.ci.type = 'perc')",
    boot_call = "boot::boot(Tal.Or, lm-based statistic, R = 20000); boot.ci(type = c('bca', 'perc'), L = empinf(type = 'jack'))",
    script = "tests/reference/mediation_serial.R", data = "tests/reference/mediation_talor_data.csv",
    seed = 20240611, versions = versions),
  model_no_covariates = m0, model_covariates = m1, n = nrow(to),
  lavaan = labelled(fit0), lavaan_covariates = labelled(fit1), lm_total = lm_total,
  lavaan_boot = list(R = 5000, effects = pe_b),
  boot = list(R = R_boot, effects = bca)
), auto_unbox = TRUE, digits = NA, pretty = TRUE), "tests/reference/mediation_serial_talor.json")

}
## 2. three mediators (numeric check), JOBS II
jobs <- read.csv("/work/shared/datasets/jobs_ii.csv")
m3 <- '
  econ_hard ~ a1*treat + sex + age
  job_seek ~ a2*treat + d21*econ_hard + sex + age
  depress1 ~ a3*treat + d31*econ_hard + d32*job_seek + sex + age
  depress2 ~ b1*econ_hard + b2*job_seek + b3*depress1 + cp*treat + sex + age
  i1 := a1*b1
  i12 := a1*d21*b2
  i13 := a1*d31*b3
  i123 := a1*d21*d32*b3
  i2 := a2*b2
  i23 := a2*d32*b3
  i3 := a3*b3
  ind := a1*b1 + a1*d21*b2 + a1*d31*b3 + a1*d21*d32*b3 + a2*b2 + a2*d32*b3 + a3*b3
  total := cp + a1*b1 + a1*d21*b2 + a1*d31*b3 + a1*d21*d32*b3 + a2*b2 + a2*d32*b3 + a3*b3
  c_i1_i123 := a1*b1 - a1*d21*d32*b3
  c_i2_i3 := a2*b2 - a3*b3
'
fit3 <- sem(m3, data = jobs, fixed.x = TRUE, meanstructure = TRUE)
writeLines(toJSON(list(
  source = list(
    what = "three-mediator serial chain on JOBS II (numeric check of the algebra only): lavaan ':=' effects",
    call = "sem(model, data = jobs, fixed.x = TRUE, meanstructure = TRUE)",
    script = "tests/reference/mediation_serial.R", data = "/work/shared/datasets/jobs_ii.csv (mediation::jobs)",
    versions = versions),
  model = m3, n = nrow(jobs), lavaan = labelled(fit3)
), auto_unbox = TRUE, digits = NA, pretty = TRUE), "tests/reference/mediation_serial_jobs.json")
