# Reference values for the tau^2 estimators of efficacy.meta.random_effects (issue #21, part A):
# every metafor rma.uni(method=) estimator, with and without moderators, z and Knapp-Hartung tests.
# Run from the repository root:  Rscript tests/reference/meta_estimators.R
# Writes tests/reference/meta_estimators_{bcg,bangertdrowns}.json (data included, so the tests need no R).
suppressPackageStartupMessages({library(metafor); library(jsonlite)})
versions <- list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
                 metadat = as.character(packageVersion("metadat")))
# Tight convergence so that the fixtures are the exact solutions (metafor's defaults stop the
# iterative estimators at a change < 1e-5 and uniroot at tol ~1.2e-4).
ctrl <- list(threshold = 1e-13, tol = 1e-13, maxiter = 100000)
cictrl <- list(tol = 1e-13)
out <- function(x, file) write_json(x, file.path("tests/reference", file), digits = NA, auto_unbox = TRUE,
                                    pretty = TRUE, na = "null")
methods <- c("EE", "DL", "HE", "HS", "HSk", "SJ", "SJIT", "ML", "REML", "PM", "PMM", "EB", "GENQ")
has_cq <- requireNamespace("CompQuadForm", quietly = TRUE)

one_fit <- function(dat, method, mods, test, wts) {
  args <- list(yi = dat$yi, vi = dat$vi, method = method, test = test, control = ctrl)
  if (!is.null(mods)) args$mods <- as.matrix(dat[, mods, drop = FALSE])
  if (!is.null(wts)) args$weights <- dat[[wts]]
  res <- do.call(rma, args)
  p <- length(coef(res))
  pr <- if (p == 1) predict(res) else predict(res, newmods = rep(0, p - 1))
  s <- list(method = method, mods = if (is.null(mods)) NA else as.list(mods), test = test,
            weights = if (is.null(wts)) NA else wts,
            call = paste0("rma(yi, vi, ", if (is.null(mods)) "" else paste0("mods = ~ ", paste(mods, collapse = " + "), ", "),
                          if (is.null(wts)) "" else paste0("weights = ", wts, ", "),
                          "method = '", method, "', test = '", test, "')"),
            k = res$k, coef = unname(coef(res)), se = unname(res$se), zval = unname(res$zval),
            pval = unname(res$pval), ci_lb = unname(res$ci.lb), ci_ub = unname(res$ci.ub),
            tau2 = res$tau2, I2 = res$I2, H2 = res$H2, QE = res$QE, QEp = res$QEp,
            pi = c(pr$pi.lb, pr$pi.ub))
  if (p > 1) { s$QM <- res$QM; s$QMdf <- res$QMdf; s$QMp <- res$QMp; s$R2 <- res$R2 }
  if (method != "EE" && (method != "GENQ" || has_cq)) {
    ci <- confint(res, control = cictrl)
    s$ci_type <- if (method == "GENQ") "GENQ" else "QP"
    s$tau2_ci <- unname(ci$random["tau^2", 2:3]); s$I2_ci <- unname(ci$random["I^2(%)", 2:3])
    s$H2_ci <- unname(ci$random["H^2", 2:3])
  }
  s
}

all_fits <- function(dat, modsets, wts) {
  fits <- list()
  for (mods in modsets) for (test in c("z", "knha")) for (m in methods) {
    fits[[length(fits) + 1]] <- one_fit(dat, m, mods, test, if (m == "GENQ") wts else NULL)
  }
  # user weights with a likelihood estimator (weights change the fixed effects only)
  for (mods in modsets) fits[[length(fits) + 1]] <- one_fit(dat, "REML", mods, "z", wts)
  fits
}

## 1. dat.bcg: log risk ratios; moderators absolute latitude, and latitude + year ---------------
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
bcg$n <- with(bcg, tpos + tneg + cpos + cneg)
d <- data.frame(yi = as.numeric(bcg$yi), vi = bcg$vi, n = bcg$n, ablat = bcg$ablat, year = bcg$year)
out(list(source = paste("metadat::dat.bcg; metafor::escalc(measure='RR', ai=tpos, bi=tneg, ci=cpos, di=cneg);",
                        "rma(yi, vi, mods=, weights=, method=, test=) for every method; confint() Q-profile CIs;",
                        "GENQ with weights = total sample size n; script tests/reference/meta_estimators.R"),
         versions = versions, compquadform = has_cq, data = d,
         fits = all_fits(d, list(NULL, "ablat", c("ablat", "year")), "n")),
    "meta_estimators_bcg.json")

## 2. dat.bangertdrowns2004: standardized mean differences; moderator length (NAs dropped) -------
bd <- dat.bangertdrowns2004
d <- data.frame(yi = as.numeric(bd$yi), vi = as.numeric(bd$vi), ni = bd$ni, length = bd$length, meta = bd$meta)
# models with a moderator drop the studies with a missing value (k = 46), as metafor does
out(list(source = paste("metadat::dat.bangertdrowns2004 (yi, vi as shipped); rma(yi, vi, mods=, weights=, method=, test=)",
                        "for every method; confint() Q-profile CIs; GENQ with weights = ni; the SJ fit with",
                        "mods = ~ length is the external check of issue #21 (metafor tau2 0.0832);",
                        "script tests/reference/meta_estimators.R"),
         versions = versions, compquadform = has_cq, data = d,
         fits = suppressWarnings(all_fits(d, list(NULL, "length", c("length", "meta")), "ni"))),
    "meta_estimators_bangertdrowns.json")
