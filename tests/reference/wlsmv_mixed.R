# Reference values for tests/test_wlsmv_mixed.py: WLSMV with continuous observed variables beside ordered
# ones (efficacy.sem.sem(..., estimator="WLSMV", ordered=<items>)) against lavaan 0.6.14.
# Run from the repository root:  Rscript tests/reference/wlsmv_mixed.R
# Reads  tests/reference/categorical_hs_cut.csv (HolzingerSwineford1939 x1..x9 cut into 3-5 categories,
#        rows in lavaan's order, x1_raw = the uncut x1) and lavaan's HolzingerSwineford1939.
# (the whole NACOV for three fits - every pair type, a binary covariate in the joint moments, conditional.x with
#  continuous and ordered outcomes - its diagonal for the others)
# Writes tests/reference/wlsmv_mixed_hs.csv (x1..x6 cut, x7..x9 continuous, treat = sex - 1, age = ageyr,
#        agec = ageyr - 13)
#        tests/reference/wlsmv_mixed_hs.json
suppressPackageStartupMessages({library(lavaan); library(jsonlite)})
out_dir <- "tests/reference"
cut <- read.csv(file.path(out_dir, "categorical_hs_cut.csv"))
HS <- lavaan::HolzingerSwineford1939
stopifnot(max(abs(cut$x1_raw - HS$x1)) < 1e-6)
# agec = ageyr - 13: lavaan 0.6.14's polyserial start value with covariates (rho.init = cor * sd / sum(dnorm(th)),
# halved once when > 0.9) leaves the box when the probit thresholds are far out (uncentred age 11-16 shifts them
# to about -4), and its residual polyserial correlations end at the bound 0.995; a centred covariate avoids that
d <- data.frame(cut[, paste0("x", 1:6)], HS[, c("x7", "x8", "x9")], treat = HS$sex - 1, age = HS$ageyr,
                agec = HS$ageyr - 13)
write.csv(d, file.path(out_dir, "wlsmv_mixed_hs.csv"), row.names = FALSE)
ord <- paste0("x", 1:6)

fm_names <- c("npar", "chisq", "df", "pvalue", "chisq.scaled", "df.scaled", "pvalue.scaled",
              "chisq.scaling.factor", "chisq.shift.parameters", "baseline.chisq", "baseline.df",
              "baseline.chisq.scaled", "baseline.chisq.scaling.factor", "cfi", "tli", "cfi.scaled", "tli.scaled",
              "cfi.robust", "tli.robust", "rmsea", "rmsea.scaled", "rmsea.ci.lower.scaled", "rmsea.ci.upper.scaled",
              "rmsea.robust", "srmr", "ntotal")
take <- function(fit, call, full_gamma = FALSE) {
  fm <- as.list(fitMeasures(fit, fm_names))
  pe <- parameterEstimates(fit)
  ss <- standardizedSolution(fit)
  tst <- lavInspect(fit, "test")[["scaled.shifted"]]
  ssp <- lavInspect(fit, "sampstat")
  g <- lavInspect(fit, "gamma")
  list(call = call,
       options = lavInspect(fit, "options")[c("estimator", "missing", "se", "test", "parameterization",
                                                "conditional.x", "fixed.x")],
       nobs = lavInspect(fit, "nobs"), converged = lavInspect(fit, "converged"),
       fit = fm,
       test = list(stat = tst$stat, df = tst$df, trace_ugamma = tst$trace.UGamma, trace_ugamma2 = tst$trace.UGamma2),
       estimates = list(lhs = pe$lhs, op = pe$op, rhs = pe$rhs, est = pe$est, se = pe$se),
       std = list(lhs = ss$lhs, op = ss$op, rhs = ss$rhs, est_std = ss$est.std),
       sampstat = lapply(ssp, function(x) if (is.matrix(x)) list(names = rownames(x), colnames = colnames(x),
                                                                  value = unclass(x)) else
                                                      list(names = names(x), value = unname(unclass(x)))),
       wls_obs = list(names = names(lavInspect(fit, "wls.obs")), value = unname(lavInspect(fit, "wls.obs"))),
       gamma_diag = list(names = rownames(g), value = unname(diag(g))),
       gamma = if (full_gamma) unname(unclass(g)) else NULL)
}
m_cfa <- "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
m_out <- "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nx9 ~ visual + textual\nx7 ~~ x9"
m_med <- "visual =~ x1 + x2 + x3\nvisual ~ a*treat\nx9 ~ b*visual + c*treat\nind := a*b\ntot := c + a*b"
m_out_x <- "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nvisual + textual ~ agec\nx9 ~ visual + textual + treat\nx7 ~ treat"
m_med_ly <- "visual =~ x1 + x2 + x3\nspeed =~ x7 + x8 + x9\nvisual ~ a*treat\nspeed ~ b*visual + c*treat\nind := a*b\ntot := c + a*b"
m_mimic <- "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nvisual + textual ~ treat + agec"
# every 7th row misses x9, every 11th x2, every 13th x8: lavaan's default for categorical data deletes them listwise;
# missing = "pairwise" keeps them (univariate statistics from available cases, correlations from pairs)
d_na <- d
d_na$x9[seq(1, nrow(d), by = 7)] <- NA
d_na$x2[seq(3, nrow(d), by = 11)] <- NA
d_na$x8[seq(5, nrow(d), by = 13)] <- NA   # (not in the outcome model; a continuous-continuous pair with NA in cfa_pw)
m_med_cov <- "visual =~ x1 + x2 + x3\nvisual ~ a*treat + age\nx9 ~ b*visual + c*treat + age\nind := a*b\ntot := c + a*b"
res <- list(
  source = list(script = "tests/reference/wlsmv_mixed.R",
                versions = list(R = R.version.string, lavaan = as.character(packageVersion("lavaan"))),
                data = "wlsmv_mixed_hs.csv: HolzingerSwineford1939, x1..x6 cut into 3-5 ordered categories (categorical_hs_cut.csv), x7..x9 continuous, treat = sex - 1, age = ageyr",
                note = "estimator = 'WLSMV' (DWLS, se = 'robust.sem', test = 'scaled.shifted', delta parameterization), missing = 'listwise'"),
  models = list(cfa = m_cfa, outcome = m_out, med = m_med, med_cov = m_med_cov, out_x = m_out_x,
                mimic = m_mimic, med_ly = m_med_ly),
  cfa = take(sem(m_cfa, d, ordered = ord, estimator = "WLSMV", conditional.x = FALSE),
             "sem(m_cfa, d, ordered = paste0('x', 1:6), estimator = 'WLSMV', conditional.x = FALSE)", full_gamma = TRUE),
  outcome = take(sem(m_out, d, ordered = ord, estimator = "WLSMV", conditional.x = FALSE),
                 "sem(m_out, d, ordered = paste0('x', 1:6), estimator = 'WLSMV', conditional.x = FALSE)"),
  med_cx_false = take(sem(m_med, d, ordered = c("x1", "x2", "x3"), estimator = "WLSMV", conditional.x = FALSE),
                      "sem(m_med, d, ordered = c('x1','x2','x3'), estimator = 'WLSMV', conditional.x = FALSE)"),
  med_cov_cx_false = take(sem(m_med_cov, d, ordered = c("x1", "x2", "x3"), estimator = "WLSMV", conditional.x = FALSE),
                      "sem(m_med_cov, d, ordered = c('x1','x2','x3'), estimator = 'WLSMV', conditional.x = FALSE)", full_gamma = TRUE),
  med_cx_true = take(sem(m_med, d, ordered = c("x1", "x2", "x3"), estimator = "WLSMV"),
                     "sem(m_med, d, ordered = c('x1','x2','x3'), estimator = 'WLSMV')  # conditional.x = TRUE"),
  med_cov_cx_true = take(sem(m_med_cov, d, ordered = c("x1", "x2", "x3"), estimator = "WLSMV"),
                         "sem(m_med_cov, d, ordered = c('x1','x2','x3'), estimator = 'WLSMV')  # conditional.x = TRUE"),
  out_cx_true = take(sem(m_out_x, d, ordered = ord, estimator = "WLSMV"),
                     "sem(m_out_x, d, ordered = paste0('x', 1:6), estimator = 'WLSMV')  # conditional.x = TRUE", full_gamma = TRUE),
  med_latent_y = take(sem(m_med_ly, d, ordered = c("x1", "x2", "x3"), estimator = "WLSMV"),
                      "sem(m_med_ly, d, ordered = c('x1','x2','x3'), estimator = 'WLSMV')  # conditional.x = TRUE"),
  mimic = take(sem(m_mimic, d, ordered = ord, estimator = "WLSMV"),
               "sem(m_mimic, d, ordered = paste0('x', 1:6), estimator = 'WLSMV')  # conditional.x = TRUE"),
  cfa_pw = take(sem(m_cfa, d_na, ordered = ord, estimator = "WLSMV", missing = "pairwise", conditional.x = FALSE),
                "sem(m_cfa, d_na, ordered = paste0('x', 1:6), estimator = 'WLSMV', missing = 'pairwise', conditional.x = FALSE)"),
  med_pw = take(sem(m_med, d_na, ordered = c("x1", "x2", "x3"), estimator = "WLSMV", missing = "pairwise",
                    conditional.x = FALSE),
                "sem(m_med, d_na, ordered = c('x1','x2','x3'), estimator = 'WLSMV', missing = 'pairwise', conditional.x = FALSE)"),
  outcome_na = take(sem(m_out, d_na, ordered = ord, estimator = "WLSMV", conditional.x = FALSE),
                    "sem(m_out, d_na, ordered = paste0('x', 1:6), estimator = 'WLSMV', conditional.x = FALSE)  # listwise")
)
# DWLS difference test of nested mixed models (lavaan's default for WLSMV: Satorra 2000, scaled and shifted)
m_out0 <- "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nx9 ~ visual + 0*textual\nx7 ~~ x9"
f1 <- sem(m_out, d, ordered = ord, estimator = "WLSMV", conditional.x = FALSE)
f0 <- sem(m_out0, d, ordered = ord, estimator = "WLSMV", conditional.x = FALSE)
lrt <- lavTestLRT(f1, f0)
res$lrt <- list(call = "lavTestLRT(sem(m_out, ...), sem(m_out0, ...))  # method = 'satorra.2000', scaled.shifted",
                model0 = m_out0, delta_chisq = lrt[["Chisq diff"]][2], delta_df = lrt[["Df diff"]][2],
                pvalue = lrt[["Pr(>Chisq)"]][2])
write(toJSON(res, digits = NA, auto_unbox = TRUE, na = "null"), file.path(out_dir, "wlsmv_mixed_hs.json"))
