# Reference values for efficacy.meta.dependent (issue #21, part B): the correlated-and-hierarchical-
# effects (CHE) working model of Pustejovsky & Tipton (2022) with CR2 cluster-robust inference,
# its sensitivity to the assumed within-study correlation r, the distribution of variance over
# the three levels (Cheung 2014) and the likelihood-ratio test of each level.
# Run from the repository root:  Rscript tests/reference/meta_dependent.R
# Writes tests/reference/meta_dependent_{assink,konstantopoulos}.json (data included).
suppressPackageStartupMessages({library(metafor); library(clubSandwich); library(jsonlite)})
versions <- list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
                 metadat = as.character(packageVersion("metadat")),
                 clubSandwich = as.character(packageVersion("clubSandwich")))
# nlminb run to a tight relative tolerance so that the fixtures are the REML optimum itself
ctrl <- list(rel.tol = 1e-10, iter.max = 5000, eval.max = 10000)
out <- function(x, file) write_json(x, file.path("tests/reference", file), digits = NA, auto_unbox = TRUE,
                                    pretty = TRUE, na = "null")
rs <- seq(0.2, 0.8, by = 0.1)

# CHE: V imputed with a common within-study correlation r; vcalc() and
# clubSandwich::impute_covariance_matrix() give the same block-diagonal matrix
che_V <- function(dat, r) {
  V <- vcalc(vi, cluster = study, obs = esid, rho = r, data = dat)
  V2 <- impute_covariance_matrix(dat$vi, cluster = dat$study, r = r, return_list = FALSE)
  stopifnot(max(abs(V - as.matrix(V2))) < 1e-14)
  V
}
che_fit <- function(dat, V, mods, sigma2 = c(NA, NA)) {
  args <- list(yi = dat$yi, V = V, random = ~ 1 | study/esid, data = dat, method = "REML",
               sigma2 = sigma2, control = ctrl)
  if (!is.null(mods)) args$mods <- mods
  do.call(rma.mv, args)
}
typical_v <- function(vi) { w <- 1 / vi; (length(vi) - 1) * sum(w) / (sum(w)^2 - sum(w^2)) }
summ <- function(dat, r, mods) {
  V <- che_V(dat, r)
  fit <- che_fit(dat, V, mods)
  ct <- coef_test(fit, vcov = "CR2")
  ci <- conf_int(fit, vcov = "CR2", level = 0.95)
  vr <- as.matrix(vcovCR(fit, type = "CR2"))
  s2 <- fit$sigma2
  vt <- typical_v(dat$vi)
  tot <- sum(s2) + vt
  no3 <- che_fit(dat, V, mods, sigma2 = c(0, NA))
  no2 <- che_fit(dat, V, mods, sigma2 = c(NA, 0))
  a3 <- anova(fit, no3); a2 <- anova(fit, no2)
  list(r = r, k = fit$k, n_studies = fit$s.nlevels[1], sigma2 = s2, logLik = as.numeric(logLik(fit)),
       coef = unname(coef(fit)), se = unname(fit$se), zval = unname(fit$zval), pval = unname(fit$pval),
       ci_lb = unname(fit$ci.lb), ci_ub = unname(fit$ci.ub), QE = fit$QE, QEp = fit$QEp,
       QM = fit$QM, QMp = fit$QMp,
       CR2 = list(se = ct$SE, tstat = ct$tstat, df = ct$df_Satt, pval = ct$p_Satt,
                  ci_lb = ci$CI_L, ci_ub = ci$CI_U, vcov = unname(vr)),
       # Cheung (2014): shares of the total variance at each level, with the typical sampling
       # variance of Higgins & Thompson (2002): (k - 1) sum(w) / ((sum w)^2 - sum(w^2)), w = 1/vi
       typical_v = vt,
       shares = list(sampling = 100 * vt / tot, within = 100 * s2[2] / tot, between = 100 * s2[1] / tot),
       # REML likelihood-ratio test of each level: that level's variance fixed at 0, anova(full, reduced)
       lrt = list(between = list(LRT = a3$LRT, pval = a3$pval, logLik_reduced = as.numeric(logLik(no3)),
                                 sigma2_reduced = no3$sigma2),
                  within = list(LRT = a2$LRT, pval = a2$pval, logLik_reduced = as.numeric(logLik(no2)),
                                sigma2_reduced = no2$sigma2)))
}
bundle <- function(dat, modsets, src) {
  fits <- list()
  for (nm in names(modsets)) {
    mods <- modsets[[nm]]
    for (r in c(0, rs)) {
      s <- summ(dat, r, mods)
      s$mods <- nm
      s$call <- paste0("V <- vcalc(vi, cluster = study, obs = esid, rho = ", r, "); ",
                       "rma.mv(yi, V, ", if (is.null(mods)) "" else paste0("mods = ", deparse(mods), ", "),
                       "random = ~ 1 | study/esid, method = 'REML'); coef_test(fit, vcov = 'CR2')")
      fits[[length(fits) + 1]] <- s
    }
  }
  list(source = src, versions = versions, fits = fits)
}

## 1. dat.assink2016: 100 effects of delinquency in 17 studies; moderator deltype (3 levels) ----
a <- dat.assink2016
da <- data.frame(study = a$study, esid = a$esid, yi = a$yi, vi = a$vi, deltype = a$deltype, year = a$year)
res <- bundle(da, list(none = NULL, deltype = ~ deltype),
              paste("metadat::dat.assink2016; V <- metafor::vcalc(vi, cluster = study, obs = esid, rho = r)",
                    "(= clubSandwich::impute_covariance_matrix(vi, study, r)); rma.mv(yi, V, mods =, random = ~ 1 | study/esid);",
                    "clubSandwich::coef_test(vcov = 'CR2'), conf_int(); variance shares (Cheung 2014) and",
                    "anova(full, sigma2 = c(0, NA) / c(NA, 0)); script tests/reference/meta_dependent.R"))
res$data <- da
out(res, "meta_dependent_assink.json")

## 2. dat.konstantopoulos2011: 56 schools in 11 districts; moderator year (centred) ---------------
k11 <- dat.konstantopoulos2011
dk <- data.frame(study = k11$district, esid = k11$school, yi = as.numeric(k11$yi), vi = k11$vi,
                 yc = k11$year - mean(k11$year))
res <- bundle(dk, list(none = NULL, yc = ~ yc),
              paste("metadat::dat.konstantopoulos2011 (study = district, esid = school, yc = year - mean(year));",
                    "V <- metafor::vcalc(vi, cluster = study, obs = esid, rho = r); rma.mv(yi, V, mods =,",
                    "random = ~ 1 | study/esid); clubSandwich::coef_test(vcov = 'CR2'); variance shares",
                    "(Cheung 2014); anova(full, reduced); script tests/reference/meta_dependent.R"))
res$data <- dk
out(res, "meta_dependent_konstantopoulos.json")
