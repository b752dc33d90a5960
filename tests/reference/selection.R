# Reference values for efficacy.meta.selection (issue #21): metafor::ranktest and metafor::selmodel.
# Run from the repository root:  Rscript tests/reference/selection.R   (about 1-2 minutes)
# Writes tests/reference/selection_{hackshaw,bcg,baskerville,cohen,ranktest}.json
#
# Convergence. metafor's defaults stop optim's BFGS at reltol 1e-8 (numerical gradient) and
# integrate() at rel.tol .Machine$double.eps^0.25 (1.2e-4), which for the beta model shifts the
# log-likelihood by ~2e-4 and the SEs by up to 1%. The fixtures therefore use nlminb with a
# tight integral (intCtrl rel.tol 1e-10), which reaches the exact ML solution (the "tight"
# blocks); the metafor-default fits are stored too ("default" blocks) and compared at a
# tolerance that reflects metafor's own optimisation error.
suppressPackageStartupMessages({library(metafor); library(jsonlite)})
versions <- list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
                 metadat = as.character(packageVersion("metadat")))
out <- function(x, file) write_json(x, file.path("tests/reference", file), digits = NA, auto_unbox = TRUE,
                                    pretty = TRUE, na = "null")
tight <- list(optimizer = "nlminb", eval.max = 10000, iter.max = 10000,
              intCtrl = list(rel.tol = 1e-10, subdivisions = 1000L))
sel_summary <- function(s) {
  list(beta = unname(c(s$beta)), se = unname(s$se), zval = unname(s$zval), pval = unname(s$pval),
       ci_lb = unname(s$ci.lb), ci_ub = unname(s$ci.ub), tau2 = s$tau2, se_tau2 = s$se.tau2,
       ci_lb_tau2 = s$ci.lb.tau2, ci_ub_tau2 = s$ci.ub.tau2,
       delta = unname(s$delta), se_delta = unname(s$se.delta), zval_delta = unname(s$zval.delta),
       pval_delta = unname(s$pval.delta), ci_lb_delta = unname(s$ci.lb.delta), ci_ub_delta = unname(s$ci.ub.delta),
       LRT = s$LRT, LRTdf = s$LRTdf, LRTp = s$LRTp, LRT_tau2 = s$LRT.tau2, LRTp_tau2 = s$LRTp.tau2,
       ll = s$ll, ll0 = s$ll0, QM = s$QM, QMp = s$QMp,
       ptable = if (is.data.frame(s$ptable)) s$ptable$k else NULL,
       steps = if (s$type == "stepfun") s$steps else NULL, pvals = s$pvals,
       AIC = s$fit.stats["AIC", "ML"], BIC = s$fit.stats["BIC", "ML"])
}
# nlminb occasionally stops with "false convergence" at the optimum of a tight problem; then the
# same fit is tried with BFGS at reltol 1e-12 (the block's "control" field says which was used)
tight_bfgs <- list(reltol = 1e-12, maxit = 10000, intCtrl = list(rel.tol = 1e-10, subdivisions = 1000L))
fit <- function(res, ..., control = NULL) {
  tries <- if (is.null(control)) list(nlminb = tight, bfgs = tight_bfgs) else list(given = control)
  for (nm in names(tries)) {
    s <- try(selmodel(res, ..., control = tries[[nm]]), silent = TRUE)
    if (!inherits(s, "try-error")) break
  }
  if (inherits(s, "try-error")) stop(s)
  c(list(call = paste(deparse(match.call()), collapse = " "),
         control = if (nm == "given" && length(control) == 0) "metafor default" else nm), sel_summary(s))
}
rt <- function(yi, vi, ...) { r <- suppressWarnings(ranktest(yi, vi = vi, ...)); list(tau = unname(r$tau), pval = r$pval) }
err <- function(expr) tryCatch({ expr; "no error" }, error = function(e) conditionMessage(e))
ml_fit <- function(res) list(beta = unname(c(res$beta)), se = unname(res$se), tau2 = res$tau2,
                             ll = c(logLik(res, REML = FALSE)))

## 1. dat.hackshaw1998 (environmental tobacco smoke and lung cancer, log odds ratios) -----------
dat <- dat.hackshaw1998
res <- rma(yi, vi, data = dat, method = "ML")
out(list(source = paste("metadat::dat.hackshaw1998; res <- rma(yi, vi, data=dat, method='ML');",
                        "selmodel(res, type=..., alternative=..., steps=..., control=tight) with",
                        "tight = list(optimizer='nlminb', intCtrl=list(rel.tol=1e-10, subdivisions=1000))"),
         versions = versions, yi = dat$yi, vi = dat$vi, ml = ml_fit(res),
         stepfun4 = fit(res, type = "stepfun", alternative = "greater", steps = c(.025, .10, .50, 1)),
         stepfun4_default = fit(res, type = "stepfun", alternative = "greater", steps = c(.025, .10, .50, 1),
                                control = list()),
         threepsm = fit(res, type = "stepfun", steps = c(.025, 1)),
         twosided = fit(res, type = "stepfun", alternative = "two.sided", steps = c(.05, .20, 1)),
         beta = fit(res, type = "beta"),
         beta_default = fit(res, type = "beta", control = list()),
         beta_twosided = fit(res, type = "beta", alternative = "two.sided"),
         ee_threepsm = fit(rma(yi, vi, data = dat, method = "EE"), type = "stepfun", steps = c(.025, 1)),
         ranktest = rt(dat$yi, dat$vi),
         error_too_few = err(selmodel(rma(yi, vi, data = dat[1:4, ], method = "ML"), type = "stepfun",
                                      steps = c(.025, .10, .50, 1)))),
    "selection_hackshaw.json")

## 2. dat.bcg (BCG vaccine, log risk ratios; benefit = negative effects) ---------------------------
dat <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
res <- rma(yi, vi, data = dat, method = "ML")
mod <- rma(yi, vi, mods = ~ ablat, data = dat, method = "ML")
out(list(source = paste("metadat::dat.bcg; escalc('RR', ai=tpos, bi=tneg, ci=cpos, di=cneg);",
                        "selmodel(rma(yi, vi, [mods=~ablat], method='ML'), type='stepfun', alternative='less', steps=c(.025, 1), control=tight)"),
         versions = versions, yi = as.numeric(dat$yi), vi = dat$vi, ablat = dat$ablat, ml = ml_fit(res),
         threepsm_less = fit(res, type = "stepfun", alternative = "less", steps = c(.025, 1)),
         threepsm_less_ablat = fit(mod, type = "stepfun", alternative = "less", steps = c(.025, 1)),
         ranktest = rt(dat$yi, dat$vi),
         error_empty = err(selmodel(res, type = "stepfun", alternative = "less", steps = c(.025, .05, 1)))),
    "selection_bcg.json")

## 3. dat.baskerville2012 (Citkowicz & Vevea 2017 beta-model example; tau2 on its boundary) -----
dat <- dat.baskerville2012
res <- rma(smd, se^2, data = dat, method = "ML")
mod <- rma(smd, se^2, mods = ~ blind, data = dat, method = "ML")
out(list(source = paste("metadat::dat.baskerville2012; selmodel(rma(smd, se^2, [mods=~blind], method='ML'),",
                        "type='beta', control=tight)  (metafor help example for the beta model)"),
         versions = versions, yi = dat$smd, vi = dat$se^2, blind = dat$blind,
         beta = fit(res, type = "beta"), beta_blind = fit(mod, type = "beta"),
         ranktest = rt(dat$smd, dat$se^2)),
    "selection_baskerville.json")

## 4. dat.cohen1981 (Vevea & Woods 2005 example: a-priori weight functions) ---------------------
dat <- escalc(measure = "ZCOR", ri = ri, ni = ni, data = dat.cohen1981[c(1, 4, 5)])
res <- rma(yi, vi, data = dat, method = "ML")
tab <- data.frame(
  steps = c(0.005, 0.01, 0.05, 0.10, 0.25, 0.35, 0.50, 0.65, 0.75, 0.90, 0.95, 0.99, 0.995, 1),
  delta.mod.1 = c(1, 0.99, 0.95, 0.80, 0.75, 0.65, 0.60, 0.55, 0.50, 0.50, 0.50, 0.50, 0.50, 0.50),
  delta.sev.1 = c(1, 0.99, 0.90, 0.75, 0.60, 0.50, 0.40, 0.35, 0.30, 0.25, 0.10, 0.10, 0.10, 0.10),
  delta.mod.2 = c(1, 0.99, 0.95, 0.90, 0.80, 0.75, 0.60, 0.60, 0.75, 0.80, 0.90, 0.95, 0.99, 1.00),
  delta.sev.2 = c(1, 0.99, 0.90, 0.75, 0.60, 0.50, 0.25, 0.25, 0.50, 0.60, 0.75, 0.90, 0.99, 1.00))
vw <- lapply(tab[-1], function(delta) fit(res, type = "stepfun", steps = tab$steps, delta = delta))
out(list(source = paste("metadat::dat.cohen1981; escalc('ZCOR', ri=ri, ni=ni); res <- rma(yi, vi, method='ML');",
                        "selmodel(res, type='stepfun', steps=tab$steps, delta=tab$delta.xxx, control=tight)",
                        "(Vevea & Woods 2005 weights as in the metafor selmodel help)"),
         versions = versions, yi = as.numeric(dat$yi), vi = dat$vi, ml = ml_fit(res), weights = as.list(tab),
         vevea_woods = vw, ranktest = rt(dat$yi, dat$vi),
         error_empty = err(selmodel(res, type = "stepfun", steps = tab$steps))),
    "selection_cohen.json")

## 5. ranktest on simulated data (exact p values without ties, normal approximation) -----------
set.seed(2121)
sims <- lapply(c(5, 12, 40, 100, 170), function(k) {
  vi <- round(runif(k, 0.005, 0.2), 8)
  yi <- round(rnorm(k, 0.2 + 0.8 * sqrt(vi), sqrt(vi + 0.02)), 8)
  list(k = k, yi = yi, vi = vi, exact = rt(yi, vi), normal = rt(yi, vi, exact = FALSE))
})
out(list(source = "metafor::ranktest(yi, vi) (exact) and ranktest(yi, vi, exact=FALSE); data simulated with set.seed(2121)",
         versions = versions, sims = sims),
    "selection_ranktest.json")
