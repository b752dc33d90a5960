# Reference values for tests/test_wlsmv_mixed_groups.py: multi-group WLSMV with continuous indicators beside
# ordered ones (efficacy.sem.sem(..., estimator="WLSMV", ordered=<items>, group=, equal=)) and the mixed-model
# invariance sequence (efficacy.measurement.invariance(..., estimator="WLSMV", ordered=<items>)) against
# lavaan 0.6.14 and semTools 0.5.6.
# Run from the repository root:  Rscript tests/reference/wlsmv_mixed_groups.R
# Reads  tests/reference/wlsmv_mixed_hs.csv (HolzingerSwineford1939, x1..x6 cut into 3-5 categories, x7..x9
#        continuous; written by wlsmv_mixed.R) and tests/reference/sem_hs1939.csv (the school column, same rows)
# Writes tests/reference/wlsmv_mixed_groups_hs.json
# Invariance steps: semTools::measEq.syntax(ID.fac = "std.lv", ID.cat = "Wu.Estabrook.2016",
# parameterization = "delta") fitted by lavaan's cfa(group = "school", estimator = "WLSMV",
# conditional.x = FALSE). measEq.syntax constrains the thresholds of the ordered items (freeing their scaling
# factors and latent-response intercepts in group 2), the loadings, then the intercepts (ordered items: 0 again;
# continuous indicators: equal) with the latent means freed in group 2. It refuses "residuals" under the delta
# parameterisation; the strict step here is its scalar syntax with the residual variances of the continuous
# indicators x7..x9 given one label across groups (the ordered items' residual variances are not parameters).
suppressPackageStartupMessages({library(lavaan); library(semTools); library(jsonlite)})
out_dir <- "tests/reference"
d <- read.csv(file.path(out_dir, "wlsmv_mixed_hs.csv"))
hs <- read.csv(file.path(out_dir, "sem_hs1939.csv"))
stopifnot(max(abs(hs$x7 - d$x7)) < 1e-9, max(abs(hs$x9 - d$x9)) < 1e-9)
d$school <- hs$school
ord <- paste0("x", 1:6)
m <- "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"

fm_names <- c("npar", "chisq", "df", "pvalue", "chisq.scaled", "df.scaled", "pvalue.scaled",
              "chisq.scaling.factor", "chisq.shift.parameters", "baseline.chisq", "baseline.df",
              "baseline.chisq.scaled", "baseline.chisq.scaling.factor", "cfi", "tli", "cfi.scaled", "tli.scaled",
              "cfi.robust", "tli.robust", "rmsea", "rmsea.scaled", "rmsea.ci.lower.scaled", "rmsea.ci.upper.scaled",
              "rmsea.robust", "srmr", "ntotal")
take <- function(fit, call) {
  fm <- as.list(fitMeasures(fit, fm_names))
  pe <- parameterEstimates(fit)
  ss <- standardizedSolution(fit)
  tst <- lavInspect(fit, "test")[["scaled.shifted"]]
  wo <- lavInspect(fit, "wls.obs")
  g <- lavInspect(fit, "gamma")
  list(call = call,
       options = lavInspect(fit, "options")[c("estimator", "missing", "se", "test", "parameterization",
                                                "conditional.x", "fixed.x")],
       nobs = lavInspect(fit, "nobs"), group_labels = lavInspect(fit, "group.label"),
       converged = lavInspect(fit, "converged"),
       fit = fm,
       test = list(stat = tst$stat, df = tst$df, trace_ugamma = tst$trace.UGamma, trace_ugamma2 = tst$trace.UGamma2),
       estimates = list(lhs = pe$lhs, op = pe$op, rhs = pe$rhs, group = pe$group, est = pe$est, se = pe$se),
       std = list(lhs = ss$lhs, op = ss$op, rhs = ss$rhs, group = ss$group, est_std = ss$est.std),
       wls_obs = lapply(wo, function(x) list(names = names(x), value = unname(x))),
       gamma_diag = lapply(g, function(x) list(names = rownames(x), value = unname(diag(x)))))
}
meq_syntax <- function(eq, partial = NULL) {
  as.character(measEq.syntax(configural.model = m, data = d, ordered = ord, parameterization = "delta",
                             ID.fac = "std.lv", ID.cat = "Wu.Estabrook.2016", group = "school",
                             group.equal = eq, group.partial = partial))
}
fit_syntax <- function(s) cfa(s, d, group = "school", ordered = ord, estimator = "WLSMV", conditional.x = FALSE)
meq_call <- function(eq, partial = "NULL", extra = "") {
  paste0("cfa(as.character(measEq.syntax(m, d, ordered = paste0('x', 1:6), parameterization = 'delta', ",
         "ID.fac = 'std.lv', ID.cat = 'Wu.Estabrook.2016', group = 'school', group.equal = ", deparse(eq),
         ", group.partial = ", partial, "))", extra, ", d, group = 'school', ordered = paste0('x', 1:6), ",
         "estimator = 'WLSMV', conditional.x = FALSE)")
}
steps <- list(configural = "", loadings = "loadings", thresholds = "thresholds",
              metric = c("thresholds", "loadings"), scalar = c("thresholds", "loadings", "intercepts"))
fits <- list()
res <- list()
for (k in names(steps)) {
  fits[[k]] <- fit_syntax(meq_syntax(steps[[k]]))
  res[[k]] <- take(fits[[k]], meq_call(steps[[k]]))
}
partial <- c("x3 ~ 1", "x7 ~ 1")
fits$scalar_partial <- fit_syntax(meq_syntax(steps$scalar, partial))
res$scalar_partial <- take(fits$scalar_partial, meq_call(steps$scalar, "c('x3 ~ 1', 'x7 ~ 1')"))
s_strict <- meq_syntax(steps$scalar)
for (k in 7:9) {
  old <- sprintf("c(theta.%d_%d.g1, theta.%d_%d.g2)", k, k, k, k)
  stopifnot(grepl(old, s_strict, fixed = TRUE))
  s_strict <- sub(old, sprintf("c(theta.%d_%d, theta.%d_%d)", k, k, k, k), s_strict, fixed = TRUE)
}
fits$strict <- fit_syntax(s_strict)
res$strict <- take(fits$strict, meq_call(steps$scalar, extra = " with x7..x9 residual variances labelled theta.k_k in both groups"))
f_def <- cfa(m, d, group = "school", ordered = ord, estimator = "WLSMV", conditional.x = FALSE)
res$lavaan_default <- take(f_def, "cfa(m, d, group = 'school', ordered = paste0('x', 1:6), estimator = 'WLSMV', conditional.x = FALSE)")
# a structural model with a continuous outcome and an exogenous covariate, configural by school
m_x <- "visual =~ x1 + x2 + x3\nx9 ~ visual + agec"
res$outcome_cx_false <- take(sem(m_x, d, group = "school", ordered = c("x1", "x2", "x3"), estimator = "WLSMV",
                                 conditional.x = FALSE),
                             "sem(m_x, d, group = 'school', ordered = c('x1','x2','x3'), estimator = 'WLSMV', conditional.x = FALSE)")
res$outcome_cx_true <- take(sem(m_x, d, group = "school", ordered = c("x1", "x2", "x3"), estimator = "WLSMV"),
                            "sem(m_x, d, group = 'school', ordered = c('x1','x2','x3'), estimator = 'WLSMV')  # conditional.x = TRUE")
# the same structural model with the Wu & Estabrook constraints written out (measEq.syntax takes CFAs only): equal
# thresholds of x1..x3 free their scaling factors and latent-response intercepts in group 2 ("th"); with equal
# loadings and intercepts too ("scalar") those intercepts are 0 again, x9's intercept is equal and the factor mean
# free in group 2. Marker identification (x1's loading 1), as efficacy's.
ord3 <- c("x1", "x2", "x3")
outcome_syntax <- function(scalar) {
  lines <- c(if (scalar) "visual =~ x1 + c(l2, l2)*x2 + c(l3, l3)*x3" else "visual =~ x1 + x2 + x3",
             "x9 ~ visual + agec")
  for (v in ord3) {
    for (k in seq_len(length(unique(d[[v]])) - 1))
      lines <- c(lines, sprintf("%s | c(%s.t%d, %s.t%d)*t%d", v, v, k, v, k, k))
    lines <- c(lines, sprintf("%s ~*~ c(1, NA)*%s", v, v), sprintf("%s ~ c(0, %s)*1", v, if (scalar) "0" else "NA"))
  }
  if (scalar) lines <- c(lines, "x9 ~ c(i9, i9)*1", "visual ~ c(0, NA)*1")
  paste(lines, collapse = "\n")
}
for (sc in c(FALSE, TRUE)) for (cx in c(FALSE, TRUE)) {
  key <- paste0("outcome_", if (sc) "scalar" else "th", "_cx_", tolower(cx))
  res[[key]] <- take(sem(outcome_syntax(sc), d, group = "school", ordered = ord3, estimator = "WLSMV",
                         conditional.x = cx),
                     sprintf("sem(outcome_syntax(%s), d, group = 'school', ordered = c('x1','x2','x3'), estimator = 'WLSMV', conditional.x = %s)",
                             sc, cx))
  res[[key]]$syntax <- outcome_syntax(sc)
}
# DWLS difference tests between the steps (lavaan's default for WLSMV: satorra.2000, scaled and shifted)
pairs <- list(c("configural", "thresholds"), c("thresholds", "metric"), c("metric", "scalar"),
              c("scalar", "strict"), c("metric", "scalar_partial"), c("configural", "loadings"))
res$lrt <- lapply(pairs, function(p) {
  l <- lavTestLRT(fits[[p[1]]], fits[[p[2]]])
  list(m1 = p[1], m0 = p[2], delta_chisq = l[["Chisq diff"]][2], delta_df = l[["Df diff"]][2],
       pvalue = l[["Pr(>Chisq)"]][2])
})
# score tests of the partial-invariance search (efficacy's invariance(): the largest univariate score test among
# the intercepts still equal is freed, until delta CFI passes): the equality constraints of the continuous
# indicators' intercepts (nu.7..nu.9, as measEq.syntax writes them) and, for the ordered items, the release of the
# latent-response intercept in group 2 (measEq.syntax fixes it at 0 in both groups, so lavTestScore has no
# constraint to test: it is written free in group 2, nu.k.g2, with the constraint nu.k.g2 == 0 - the same model).
# Round 1 on the scalar fit, round 2 on the scalar fit with x3's intercept free (x3 has the largest statistic).
score_round <- function(partial) {
  s <- meq_syntax(steps$scalar, partial)
  for (k in 1:6) {
    old <- sprintf("x%d ~ c(0, 0)*1 + c(nu.%d, nu.%d)*1", k, k, k)
    if (grepl(old, s, fixed = TRUE))
      s <- sub(old, sprintf("x%d ~ c(0, NA)*1 + c(nu.%d.g1, nu.%d.g2)*1\nnu.%d.g2 == 0", k, k, k, k), s, fixed = TRUE)
  }
  f <- fit_syntax(s)
  stopifnot(abs(fitMeasures(f, "chisq") - fitMeasures(fit_syntax(meq_syntax(steps$scalar, partial)), "chisq")) < 1e-6)
  st <- suppressWarnings(lavTestScore(f))$uni
  pt <- parTable(f)
  lab <- function(p) {   # ".pK." or "nu.k.g2" -> "item ~ 1" (the constrained or released intercept)
    r <- pt[pt$plabel == p | pt$label == p, ][1, ]
    if (r$op == "~1") paste(r$lhs, "~ 1") else paste(r$lhs, r$op, r$rhs)
  }
  labs <- vapply(st$lhs, lab, "")
  keep <- grepl("^x[0-9] ~ 1$", labs)
  list(call = paste0("lavTestScore(fit)$uni; fit = measEq.syntax(..., group.equal = c('thresholds', 'loadings', ",
                     "'intercepts'), group.partial = ", deparse(partial), ") with nu.k.g2 free and nu.k.g2 == 0 for ",
                     "the ordered items whose intercepts are fixed at 0"),
       partial = partial, parameter = unname(labs[keep]), X2 = st$X2[keep], df = st$df[keep], pvalue = st$p.value[keep])
}
res$score_rounds <- list(score_round(NULL), score_round("x3 ~ 1"))
# strict after the partial scalar step keeps x3's and x7's intercepts free (efficacy's strict row then)
s_sp <- meq_syntax(steps$scalar, partial)
for (k in 7:9) {
  old <- sprintf("c(theta.%d_%d.g1, theta.%d_%d.g2)", k, k, k, k)
  s_sp <- sub(old, sprintf("c(theta.%d_%d, theta.%d_%d)", k, k, k, k), s_sp, fixed = TRUE)
}
fits$strict_partial <- fit_syntax(s_sp)
res$strict_partial <- take(fits$strict_partial, meq_call(steps$scalar, "c('x3 ~ 1', 'x7 ~ 1')",
                                                         extra = " with x7..x9 residual variances labelled theta.k_k in both groups"))
l <- lavTestLRT(fits$scalar_partial, fits$strict_partial)
res$lrt[[length(res$lrt) + 1]] <- list(m1 = "scalar_partial", m0 = "strict_partial", delta_chisq = l[["Chisq diff"]][2],
                                       delta_df = l[["Df diff"]][2], pvalue = l[["Pr(>Chisq)"]][2])
# pairwise deletion (the measurement stage's choice for WLSMV when it would use FIML): the missing values of
# wlsmv_mixed.R (every 7th row from the first misses x9, every 11th from the third x2, every 13th from the fifth x8)
d_na <- d
d_na$x9[seq(1, nrow(d), by = 7)] <- NA
d_na$x2[seq(3, nrow(d), by = 11)] <- NA
d_na$x8[seq(5, nrow(d), by = 13)] <- NA
fit_pw <- function(s) cfa(s, d_na, group = "school", ordered = ord, estimator = "WLSMV", conditional.x = FALSE,
                          missing = "pairwise")
fits$configural_pw <- fit_pw(meq_syntax(""))
fits$scalar_pw <- fit_pw(meq_syntax(steps$scalar))
res$configural_pw <- take(fits$configural_pw, sub("conditional.x = FALSE)", "conditional.x = FALSE, missing = 'pairwise')  # d_na",
                                                  meq_call(""), fixed = TRUE))
res$scalar_pw <- take(fits$scalar_pw, sub("conditional.x = FALSE)", "conditional.x = FALSE, missing = 'pairwise')  # d_na",
                                          meq_call(steps$scalar), fixed = TRUE))
l <- lavTestLRT(fits$configural_pw, fits$scalar_pw)
res$lrt[[length(res$lrt) + 1]] <- list(m1 = "configural_pw", m0 = "scalar_pw", delta_chisq = l[["Chisq diff"]][2],
                                       delta_df = l[["Df diff"]][2], pvalue = l[["Pr(>Chisq)"]][2])
res$source <- list(script = "tests/reference/wlsmv_mixed_groups.R",
                   versions = list(R = R.version.string, lavaan = as.character(packageVersion("lavaan")),
                                   semTools = as.character(packageVersion("semTools"))),
                   data = "wlsmv_mixed_hs.csv (HolzingerSwineford1939, x1..x6 cut into 3-5 ordered categories, x7..x9 continuous) with school from sem_hs1939.csv",
                   note = "estimator = 'WLSMV' (DWLS, se = 'robust.sem', test = 'scaled.shifted', delta parameterization), missing = 'listwise', group = 'school'; lavTestLRT(m1, m0) default method satorra.2000")
res$models <- list(cfa = m, outcome = m_x, strict_syntax = s_strict)
write(toJSON(res, digits = NA, auto_unbox = TRUE, na = "null"), file.path(out_dir, "wlsmv_mixed_groups_hs.json"))
