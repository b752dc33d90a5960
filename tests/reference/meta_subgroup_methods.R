# Reference values for subgroup analyses (efficacy.meta.univariate.subgroup and the workflow's
# meta.analyses subgroup: key; issue #21): per-level random-effects models and the Q-between test.
# Run from the repository root:  Rscript tests/reference/meta_subgroup_methods.R
# Writes tests/reference/meta_subgroup_methods_bcg.json (data: data/literature/bcg.csv = metadat's dat.bcg).
suppressPackageStartupMessages({library(metafor); library(jsonlite)})
versions <- list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
                 metadat = as.character(packageVersion("metadat")))
ctrl <- list(threshold = 1e-13, tol = 1e-13, maxiter = 100000)
out <- function(x, file) write_json(x, file.path("tests/reference", file), digits = NA, auto_unbox = TRUE,
                                    pretty = TRUE, na = "null")
dat <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
fits <- list()
for (method in c("REML", "DL")) for (test in c("z", "knha")) {
  levels <- sort(unique(dat$alloc))
  per <- lapply(levels, function(g) {
    res <- rma(yi, vi, data = dat, subset = alloc == g, method = method, test = test, control = ctrl)
    p <- predict(res)
    list(group = g, k = res$k, estimate = unname(coef(res)), se = res$se, statistic = res$zval, pvalue = res$pval,
         ci_low = res$ci.lb, ci_high = res$ci.ub, pi_low = p$pi.lb, pi_high = p$pi.ub, tau2 = res$tau2,
         I2 = res$I2, Q = res$QE, Q_df = res$k - 1, Q_pval = res$QEp)
  })
  m <- rma(yi, vi, mods = ~ factor(alloc), data = dat, method = method, test = test, control = ctrl)
  fits[[paste(method, test, sep = "_")]] <- list(
    call = sprintf("rma(yi, vi, subset = alloc == g, method = '%s', test = '%s') per level; rma(yi, vi, mods = ~ factor(alloc), method = '%s', test = '%s')$QM",
                   method, test, method, test),
    method = method, test = test, levels = per,
    between = list(QM = m$QM, QMdf = m$QMdf, QMp = m$QMp, tau2 = m$tau2, k = m$k))
}
out(list(source = "tests/reference/meta_subgroup_methods.R: metafor::rma() per level of dat.bcg$alloc and rma(mods = ~ factor(alloc))",
         versions = versions, measure = "RR", data = list(yi = as.numeric(dat$yi), vi = as.numeric(dat$vi),
                                                        alloc = dat$alloc, author = dat$author),
         fits = fits),
    "meta_subgroup_methods_bcg.json")
