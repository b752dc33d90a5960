# Reference values for tests/test_wlsmv_condpair.py: mixed WLSMV with exogenous covariates (conditional.x = TRUE)
# and missing = "pairwise" (efficacy.sem.sem(..., estimator="WLSMV", ordered=, missing="pairwise")) against
# lavaan 0.6.14 (system R library).
# Run from the repository root:  Rscript tests/reference/wlsmv_condpair.R
# Reads  tests/reference/wlsmv_mixed_hs.csv (written by wlsmv_mixed.R)
# Writes tests/reference/wlsmv_condpair_hs.json
suppressPackageStartupMessages({library(lavaan); library(jsonlite)})
out_dir <- "tests/reference"
d <- read.csv(file.path(out_dir, "wlsmv_mixed_hs.csv"))
# missing values in the endogenous variables (ordered x1, x2; continuous x8, x9)
d$x2[seq(3, nrow(d), by = 11)] <- NA
d$x9[seq(1, nrow(d), by = 7)] <- NA
d$x1[seq(2, nrow(d), by = 17)] <- NA
d$x8[seq(5, nrow(d), by = 13)] <- NA
# ... and in a covariate: lavaan drops those rows (fixed.x = TRUE; warning "cases were deleted")
d_x <- d
d_x$x7[seq(4, nrow(d), by = 19)] <- NA
fm_names <- c("npar", "chisq", "df", "pvalue", "chisq.scaled", "df.scaled", "pvalue.scaled",
              "chisq.scaling.factor", "chisq.shift.parameters", "srmr", "ntotal")
take <- function(fit, call) {
  fm <- as.list(fitMeasures(fit, fm_names))
  pe <- parameterEstimates(fit)
  g <- lavInspect(fit, "gamma")
  list(call = call, nobs = lavInspect(fit, "nobs"), converged = lavInspect(fit, "converged"),
       fit = fm,
       estimates = list(lhs = pe$lhs, op = pe$op, rhs = pe$rhs, est = pe$est, se = pe$se),
       wls_obs = list(names = names(lavInspect(fit, "wls.obs")), value = unname(lavInspect(fit, "wls.obs"))),
       gamma_diag = list(names = rownames(g), value = unname(diag(g))))
}
m_ord <- "v =~ x1 + x2 + x3\nv ~ x7"
m_mix <- "visual =~ x1 + x2 + x3\nvisual ~ treat + agec\nx9 ~ visual + treat + agec\nx8 ~ visual"
ord <- c("x1", "x2", "x3")
res <- list(
  source = list(script = "tests/reference/wlsmv_condpair.R",
                versions = list(R = R.version.string, lavaan = as.character(packageVersion("lavaan"))),
                data = "wlsmv_mixed_hs.csv with NA: x2 every 11th row from 3, x9 every 7th from 1, x1 every 17th from 2, x8 every 13th from 5; data_x also x7 every 19th from 4",
                note = "estimator = 'WLSMV', missing = 'pairwise', conditional.x = TRUE (default for ordered data)"),
  models = list(ord = m_ord, mix = m_mix),
  ord = take(sem(m_ord, d, ordered = ord, estimator = "WLSMV", missing = "pairwise"),
             "sem(m_ord, d, ordered = c('x1','x2','x3'), estimator = 'WLSMV', missing = 'pairwise')"),
  ord_xna = take(suppressWarnings(sem(m_ord, d_x, ordered = ord, estimator = "WLSMV", missing = "pairwise")),
                 "sem(m_ord, d_x, ordered = c('x1','x2','x3'), estimator = 'WLSMV', missing = 'pairwise')  # 16 rows with NA x7 dropped"),
  mix = take(sem(m_mix, d, ordered = ord, estimator = "WLSMV", missing = "pairwise"),
             "sem(m_mix, d, ordered = c('x1','x2','x3'), estimator = 'WLSMV', missing = 'pairwise')")
)
write_json(res, file.path(out_dir, "wlsmv_condpair_hs.json"), digits = NA, auto_unbox = TRUE, pretty = TRUE)
