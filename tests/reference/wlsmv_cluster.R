# Reference values for tests/test_wlsmv_cluster.py: cluster-robust WLSMV (efficacy.sem.sem(..., estimator = "WLSMV",
# ordered =, cluster =)) against lavaan's cfa(..., estimator = "WLSMV", cluster =).
#
# lavaan 0.6.14 (the version of the other fixtures) ACCEPTS cluster= with ordered indicators and sets
# se = "robust.cluster.sem", but its muthen1984() gets no cluster index: Gamma, SEs and the test are exactly those
# of the fit without cluster (checked: identical to all digits). lavaan implemented the cluster-robust categorical
# Gamma in its development version (GitHub yrosseel/lavaan commit 26740e47, "cluster-robust SEs/test for categorical
# data (TYPE=COMPLEX); fix #254", version 0.7-2.3170): the casewise scores of thresholds and polychorics are summed
# within clusters before the outer product (the bread, and so the DWLS weight and the estimates, unchanged), and
# Gamma gets the finite-sample factor G / (G - 1), G = number of clusters (Mplus TYPE = COMPLEX).
# This script therefore needs that lavaan: install it from the GitHub source into a private library, e.g.
#   R CMD INSTALL --no-docs -l /tmp/Rlib <lavaan source at commit 828e6ec0 or later>
# and run from the repository root:  LAVAAN_LIB=/tmp/Rlib Rscript tests/reference/wlsmv_cluster.R
# Reads  tests/reference/categorical_bfi.csv (psychTools::bfi A1-A5, C1-C5, 1000 rows with NA),
#        tests/reference/categorical_hs_cut.csv (HolzingerSwineford1939 x1..x9 cut into 3-5 categories, rows in
#        lavaan's order), tests/reference/wlsmv_mixed_hs.csv (x1..x6 cut, x7..x9 continuous) and
#        tests/reference/sem_hs1939.csv (the school column of the multi-group fits)
# The cluster column is made here, deterministically (no new data file): cl = (row - 1) %/% 5 + 1, i.e. 61
# clusters of 5 consecutive rows (the last one a single row). By school (multi-group fits) the cluster of rows
# 156-160 is split: rows 156 (Pasteur) and 157-160 (Grant-White) are a cluster within each school.
# Writes tests/reference/wlsmv_cluster_hs.json
lib <- Sys.getenv("LAVAAN_LIB", "")
suppressPackageStartupMessages({
  if (nzchar(lib)) library(lavaan, lib.loc = lib) else library(lavaan)
  library(semTools)   # 0.5.6, on the lavaan loaded above
  library(jsonlite)
})
lav_version <- as.character(packageVersion("lavaan", lib.loc = if (nzchar(lib)) lib else NULL))
if (packageVersion("lavaan", lib.loc = if (nzchar(lib)) lib else NULL) < "0.7")
  stop("lavaan ", lav_version, " ignores cluster= for categorical data; see the header")
out_dir <- "tests/reference"
hs <- read.csv(file.path(out_dir, "categorical_hs_cut.csv"))[, paste0("x", 1:9)]
hs$cl <- (seq_len(nrow(hs)) - 1) %/% 5 + 1
mx <- read.csv(file.path(out_dir, "wlsmv_mixed_hs.csv"))
mx$cl <- (seq_len(nrow(mx)) - 1) %/% 5 + 1
hs_g <- hs
# incomplete data: psychTools::bfi A1-A5, C1-C5 (1000 rows with their NA), 100 clusters of 10 consecutive rows;
# listwise deletion (lavaan's default) drops rows, pairwise keeps them: the clusters must follow the rows kept.
# bad.marker.crit = 0: lavaan 0.7 would otherwise switch consc's marker from C1 to C4 (efficacy keeps the first)
bfi <- read.csv(file.path(out_dir, "categorical_bfi.csv"))
bfi$cl <- (seq_len(nrow(bfi)) - 1) %/% 10 + 1
m_bfi <- "agree =~ A1 + A2 + A3 + A4 + A5\nconsc =~ C1 + C2 + C3 + C4 + C5"
hs_g$school <- read.csv(file.path(out_dir, "sem_hs1939.csv"))$school

fm_names <- c("npar", "chisq", "df", "pvalue", "chisq.scaled", "df.scaled", "pvalue.scaled",
              "chisq.scaling.factor", "baseline.chisq", "baseline.df",
              "baseline.chisq.scaled", "baseline.chisq.scaling.factor", "cfi", "tli", "cfi.scaled", "tli.scaled",
              "rmsea", "rmsea.scaled", "srmr", "ntotal")
take <- function(fit, call) {
  pe <- parameterEstimates(fit)
  if (is.null(pe$group)) pe$group <- 1L
  tst <- lavInspect(fit, "test")[["scaled.shifted"]]
  g <- lavInspect(fit, "gamma")
  if (!is.list(g) || is.data.frame(g)) g <- list(g)
  list(call = call,
       options = lavInspect(fit, "options")[c("estimator", "se", "test", "information")],
       nobs = lavInspect(fit, "nobs"), converged = lavInspect(fit, "converged"),
       nclusters = sapply(fit@Data@Lp, function(lp) lp$nclusters[[2]]),
       fit = as.list(fitMeasures(fit, fm_names)),
       test = list(stat = tst$stat, df = tst$df, scaling_factor = tst$scaling.factor,
                   shift_parameter = tst$shift.parameter),
       estimates = list(lhs = pe$lhs, op = pe$op, rhs = pe$rhs, group = pe$group, est = pe$est, se = pe$se),
       gamma_diag = lapply(unname(g), function(x) unname(diag(x))),
       gamma_names = rownames(g[[1]]))
}

model <- "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6 + x7 + x8 + x9"
m_mimic <- "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nvisual + textual ~ treat + agec"
m_med <- "visual =~ x1 + x2 + x3\nvisual ~ a*treat\nx9 ~ b*visual + c*treat\nind := a*b\ntot := c + a*b"
out <- list(
  source = paste0("lavaan ", lav_version, " (GitHub yrosseel/lavaan, cluster-robust categorical Gamma of commit ",
                  "26740e47; lavaan 0.6.14 ignores cluster= for ordered data), ", R.version.string,
                  "; tests/reference/wlsmv_cluster.R"),
  cluster_rule = "cl = (row - 1) %/% 5 + 1 (61 clusters of 5 consecutive rows, the last one a single row)",
  model = model,
  ordered = list(
    cluster = take(cfa(model, hs, ordered = paste0("x", 1:9), estimator = "WLSMV", cluster = "cl"),
                   'cfa(model, hs, ordered = paste0("x", 1:9), estimator = "WLSMV", cluster = "cl")'),
    theta = take(cfa(model, hs, ordered = paste0("x", 1:9), estimator = "WLSMV", cluster = "cl",
                     parameterization = "theta"),
                 'cfa(model, hs, ordered = paste0("x", 1:9), estimator = "WLSMV", cluster = "cl", parameterization = "theta")'),
    nocluster = take(cfa(model, hs, ordered = paste0("x", 1:9), estimator = "WLSMV"),
                     'cfa(model, hs, ordered = paste0("x", 1:9), estimator = "WLSMV")')),
  mixed = list(
    cluster = take(cfa(model, mx, ordered = paste0("x", 1:6), estimator = "WLSMV", cluster = "cl"),
                   'cfa(model, mx, ordered = paste0("x", 1:6), estimator = "WLSMV", cluster = "cl")'),
    # exogenous covariates, conditional.x = TRUE (lavaan's default for categorical data): a MIMIC model and the
    # latent mediation model of efficacy.mediation.latent_mediation (as in tests/reference/wlsmv_mixed.R)
    mimic = take(sem(m_mimic, mx, ordered = paste0("x", 1:6), estimator = "WLSMV", cluster = "cl"),
                 'sem(m_mimic, mx, ordered = paste0("x", 1:6), estimator = "WLSMV", cluster = "cl")'),
    med = take(sem(m_med, mx, ordered = c("x1", "x2", "x3"), estimator = "WLSMV", cluster = "cl"),
               'sem(m_med, mx, ordered = c("x1", "x2", "x3"), estimator = "WLSMV", cluster = "cl")')),
  models = list(mimic = m_mimic, med = m_med))
out$bfi <- list(
  model = m_bfi,
  listwise = take(cfa(m_bfi, bfi, ordered = paste0(rep(c("A", "C"), each = 5), 1:5), estimator = "WLSMV",
                      cluster = "cl", bad.marker.crit = 0),
                  'cfa(m_bfi, bfi, ordered = <A1..C5>, estimator = "WLSMV", cluster = "cl", bad.marker.crit = 0)'),
  pairwise = take(cfa(m_bfi, bfi, ordered = paste0(rep(c("A", "C"), each = 5), 1:5), estimator = "WLSMV",
                      cluster = "cl", missing = "pairwise", bad.marker.crit = 0),
                  paste0('cfa(m_bfi, bfi, ordered = <A1..C5>, estimator = "WLSMV", cluster = "cl", ',
                         'missing = "pairwise", bad.marker.crit = 0)')))
# missing = "pairwise" and clusters: lavaan 0.7 sums the casewise scores within clusters with rowsum(), which gives
# NA for a cluster and a statistic whenever one of its rows has a missing score (an unobserved item or pair), and
# its NA-aware crossprod then drops that cluster's sum: clusters with any missing answer are left out of Gamma for
# those statistics (lavaan's own row-level Gamma counts a missing score as 0). efficacy counts a missing score as
# 0 in the cluster sums too. Reference for that: lavaan's own muthen1984() scores and bread with the NA scores set
# to 0 before rowsum(), the resulting Gamma given to cfa(NACOV =) (DWLS weight, estimates unchanged).
f_pw <- cfa(m_bfi, bfi, ordered = names(bfi)[1:10], estimator = "WLSMV", cluster = "cl", missing = "pairwise",
            bad.marker.crit = 0)
X <- f_pw@Data@X[[1]]
m84 <- lavaan:::muthen1984(data_1 = X, ov_names = names(bfi)[1:10], ov_types = rep("ordered", 10),
                           ov_levels = f_pw@Data@ov$nlev[match(names(bfi)[1:10], f_pw@Data@ov$name)],
                           cluster_idx = bfi$cl)
stopifnot(max(abs(m84$WLS.W.cluster * 1000 * 100 / 99 - lavInspect(f_pw, "gamma"))) < 1e-10)
b_inv <- lavaan:::lav_m84_b_inv(a11 = m84$A11, a21 = m84$A21, a22 = m84$A22)$b_inv
sc0 <- m84$SC
sc0[is.na(sc0)] <- 0
sc_cl <- rowsum(sc0, bfi$cl, reorder = FALSE)
gamma_na0 <- b_inv %*% crossprod(sc_cl) %*% t(b_inv) * 1000 * 100 / 99
out$bfi$pairwise_na_zero <- take(
  cfa(m_bfi, bfi, ordered = names(bfi)[1:10], estimator = "WLSMV", cluster = "cl", missing = "pairwise",
      bad.marker.crit = 0, NACOV = list(gamma_na0)),
  paste0('cfa(m_bfi, bfi, ordered = <A1..C5>, estimator = "WLSMV", cluster = "cl", missing = "pairwise", ',
         'bad.marker.crit = 0, NACOV = list(<Gamma from cluster sums of muthen1984() scores, NA as 0>)'))

# multi-group by school: lavaan's configural model, and the scalar model of Wu & Estabrook (2016) as in
# tests/reference/sem_wlsmv.R (measEq.syntax, ID.fac = "std.lv"; efficacy's marker identification is equivalent)
meq <- measEq.syntax(configural.model = model, data = hs_g, ordered = paste0("x", 1:9), parameterization = "delta",
                     ID.fac = "std.lv", ID.cat = "Wu.Estabrook.2016", group = "school",
                     group.equal = c("thresholds", "loadings", "intercepts"))
out$groups <- list(
  configural = take(cfa(model, hs_g, ordered = paste0("x", 1:9), estimator = "WLSMV", group = "school",
                        cluster = "cl"),
                    'cfa(model, hs_g, ordered = paste0("x", 1:9), estimator = "WLSMV", group = "school", cluster = "cl")'),
  scalar = take(cfa(as.character(meq), hs_g, ordered = paste0("x", 1:9), estimator = "WLSMV", group = "school",
                    cluster = "cl", parameterization = "delta"),
                paste0('cfa(as.character(measEq.syntax(model, hs_g, ordered = paste0("x", 1:9), parameterization = ',
                       '"delta", ID.fac = "std.lv", ID.cat = "Wu.Estabrook.2016", group = "school", group.equal = ',
                       'c("thresholds", "loadings", "intercepts"))), hs_g, ordered = paste0("x", 1:9), ',
                       'estimator = "WLSMV", group = "school", cluster = "cl")')))
# the DWLS difference test (lavTestLRT's default for WLSMV, satorra.2000) between the two clustered fits
f_conf <- cfa(model, hs_g, ordered = paste0("x", 1:9), estimator = "WLSMV", group = "school", cluster = "cl")
f_scal <- cfa(as.character(meq), hs_g, ordered = paste0("x", 1:9), estimator = "WLSMV", group = "school",
              cluster = "cl", parameterization = "delta")
lrt <- lavTestLRT(f_conf, f_scal)
out$groups$lrt <- list(call = "lavTestLRT(configural, scalar)", chisq_diff = lrt[["Chisq diff"]][2],
                       df_diff = lrt[["Df diff"]][2], pvalue = lrt[["Pr(>Chisq)"]][2])
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), file.path(out_dir, "wlsmv_cluster_hs.json"))
