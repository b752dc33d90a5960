# Reference values for efficacy.meta.subgroup (issue #24): metafor fits per subgroup and the
# between-groups Q test on the BCG data (data/literature/bcg.csv = metadat::dat.bcg), log risk ratios.
# Run from the repository root:  Rscript tests/reference/meta_subgroup.R
# Writes tests/reference/meta_subgroup_bcg.json
suppressPackageStartupMessages({library(metafor); library(jsonlite)})
ctrl <- list(threshold = 1e-12, tol = 1e-12, maxiter = 10000)
bcg <- read.csv("data/literature/bcg.csv")
dat <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = bcg)
groups <- list()
for (g in sort(unique(dat$alloc))) {
  res <- rma(yi, vi, data = dat, subset = alloc == g, method = "REML", control = ctrl)
  groups[[g]] <- list(k = res$k, estimate = unname(coef(res)[1]), se = res$se, ci_lb = res$ci.lb,
                      ci_ub = res$ci.ub, tau2 = res$tau2, I2 = res$I2, QE = res$QE)
}
mod <- rma(yi, vi, mods = ~ factor(alloc), data = dat, method = "REML", control = ctrl)
out <- list(
  source = list(
    what = "per-subgroup random-effects fits and the between-subgroups test (QM of the moderator model)",
    calls = c("dat <- escalc('RR', ai = tpos, bi = tneg, ci = cpos, di = cneg, data = bcg)",
              "rma(yi, vi, data = dat, subset = alloc == g, method = 'REML')  # for each g",
              "rma(yi, vi, mods = ~ factor(alloc), data = dat, method = 'REML')  # QM, QMdf, QMp, tau2"),
    control = "threshold = 1e-12, tol = 1e-12, maxiter = 10000",
    data = "data/literature/bcg.csv (metadat::dat.bcg)",
    script = "tests/reference/meta_subgroup.R",
    R = R.version.string, metafor = as.character(packageVersion("metafor"))),
  groups = groups,
  between = list(QM = mod$QM, QMdf = mod$QMdf[1], QMp = mod$QMp, tau2 = mod$tau2, k = mod$k)
)
write_json(out, "tests/reference/meta_subgroup_bcg.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
