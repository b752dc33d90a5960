# Reference values for the moderated-mediation tests in tests/test_mediation.py
# (efficacy.mediation.moderated_mediation, Hayes PROCESS models 7 and 14).
# Run from the repository root:  Rscript tests/reference/moderated.R
# Writes tests/reference/moderated_jobs.json.  Needs lavaan and jsonlite.
#
# The product terms are computed here as observed variables (xw = treat * econ_hard,
# mw = job_seek * econ_hard) and the conditional indirect effects and the index of
# moderated mediation are lavaan ':=' defined parameters (Hayes 2018, ch. 11-12 appendix
# style). With fixed.x = TRUE the recursive model's ML estimates equal equation-by-equation
# OLS (lm() values are stored too) and the standard errors are the expected-information
# (delta-method for ':=') ML ones.
suppressPackageStartupMessages({ library(lavaan); library(jsonlite) })
set.seed(20261129)
versions <- list(R = R.version.string,
                 lavaan = as.character(packageVersion("lavaan")),
                 jsonlite = as.character(packageVersion("jsonlite")))
jobs <- read.csv(file.path("data", "raw", "jobs_ii", "data.csv"))
f17 <- function(v) sprintf("%.17g", v)
pe_list <- function(pe) {
  pe <- pe[pe$label != "", ]
  setNames(lapply(seq_len(nrow(pe)), function(i)
    list(est = pe$est[i], se = pe$se[i], pvalue = pe$pvalue[i],
         ci_lower = pe$ci.lower[i], ci_upper = pe$ci.upper[i])), pe$label)
}
lm_tab <- function(fit) {
  s <- summary(fit)$coefficients
  list(term = rownames(s), est = unname(s[, 1]))
}
fit_one <- function(model, x, m, y, w, covs, R) {
  d <- jobs
  d$xw <- d[[x]] * d[[w]]
  d$mw <- d[[m]] * d[[w]]
  wv <- if (length(unique(d[[w]])) == 2) sort(unique(d[[w]])) else
    unname(quantile(d[[w]], c(0.16, 0.5, 0.84), type = 7))
  cv <- if (length(covs)) paste0(" + ", paste(covs, collapse = " + ")) else ""
  if (model == 7) {
    syn <- paste0(m, " ~ a1*", x, " + a2*", w, " + a3*xw", cv, "\n",
                  y, " ~ cp*", x, " + b*", m, cv, "\n",
                  paste0("ind", seq_along(wv), " := (a1 + a3*", f17(wv), ")*b", collapse = "\n"), "\n",
                  "index := a3*b\n")
    eq_m <- as.formula(paste(m, "~", x, "+", w, "+ xw", cv))
    eq_y <- as.formula(paste(y, "~", x, "+", m, cv))
  } else {
    syn <- paste0(m, " ~ a*", x, cv, "\n",
                  y, " ~ cp*", x, " + b1*", m, " + b2*", w, " + b3*mw", cv, "\n",
                  paste0("ind", seq_along(wv), " := a*(b1 + b3*", f17(wv), ")", collapse = "\n"), "\n",
                  "index := a*b3\n")
    eq_m <- as.formula(paste(m, "~", x, cv))
    eq_y <- as.formula(paste(y, "~", x, "+", m, "+", w, "+ mw", cv))
  }
  fit <- sem(syn, data = d, fixed.x = TRUE, meanstructure = TRUE)
  # Independent check from lm(): ML covariance of the coefficients (vcov * (n - p) / n) and the
  # delta method with analytic gradients. In model 14 lavaan treats the product term mw as an
  # exogenous variable uncorrelated with the mediator's residual, so its ML standard errors of
  # b1, b2, b3 (and of the effects built from them) are not the OLS ones; these are.
  lm_m <- lm(eq_m, data = d); lm_y <- lm(eq_y, data = d)
  n <- nrow(d)
  Vm <- vcov(lm_m) * (n - length(coef(lm_m))) / n
  Vy <- vcov(lm_y) * (n - length(coef(lm_y))) / n
  cm <- coef(lm_m); cy <- coef(lm_y)
  if (model == 7) {
    th <- c(a1 = cm[[x]], a3 = cm[["xw"]], b = cy[[m]])
    V <- matrix(0, 3, 3); V[1:2, 1:2] <- Vm[c(x, "xw"), c(x, "xw")]; V[3, 3] <- Vy[m, m]
    grads <- c(lapply(wv, function(v) c(th[["b"]], v * th[["b"]], th[["a1"]] + v * th[["a3"]])),
               list(c(0, th[["b"]], th[["a3"]])))
    ests <- c(sapply(wv, function(v) (th[["a1"]] + v * th[["a3"]]) * th[["b"]]), th[["a3"]] * th[["b"]])
  } else {
    th <- c(a = cm[[x]], b1 = cy[[m]], b3 = cy[["mw"]])
    V <- matrix(0, 3, 3); V[1, 1] <- Vm[x, x]; V[2:3, 2:3] <- Vy[c(m, "mw"), c(m, "mw")]
    grads <- c(lapply(wv, function(v) c(th[["b1"]] + v * th[["b3"]], th[["a"]], v * th[["a"]])),
               list(c(th[["b3"]], 0, th[["a"]])))
    ests <- c(sapply(wv, function(v) th[["a"]] * (th[["b1"]] + v * th[["b3"]])), th[["a"]] * th[["b3"]])
  }
  lm_delta <- list(label = c(paste0("ind", seq_along(wv)), "index"), est = unname(ests),
                   se = sapply(grads, function(g) sqrt(drop(t(g) %*% V %*% g))),
                   path_term_m = names(cm), path_se_m = unname(sqrt(diag(Vm))),
                   path_term_y = names(cy), path_se_y = unname(sqrt(diag(Vy))))
  res <- list(model = model, x = x, m = m, y = y, w = w, covariates = covs, w_values = wv,
              n = nrow(d), syntax = syn,
              call = "lavaan::sem(syntax, data, fixed.x = TRUE, meanstructure = TRUE)",
              ml = pe_list(parameterEstimates(fit)),
              lm_mediator = lm_tab(lm_m), lm_outcome = lm_tab(lm_y),
              lm_delta = c(list(call = paste("lm() fits; ML covariance vcov(fit) * (n - p) / n;",
                                              "delta method with analytic gradients")), lm_delta))
  if (R > 0) {
    fb <- sem(syn, data = d, fixed.x = TRUE, meanstructure = TRUE, se = "bootstrap", bootstrap = R)
    res$boot <- list(call = paste0("sem(..., se = 'bootstrap', bootstrap = ", R,
                                   "); parameterEstimates(boot.ci.type = 'perc')"),
                     R = R, est = pe_list(parameterEstimates(fb, boot.ci.type = "perc")))
  }
  res
}
covs <- c("sex", "age")
out <- list(
  source = paste("JOBS II (data/raw/jobs_ii/data.csv): X = treat, M = job_seek, Y = depress2;",
                 "W = econ_hard at its 16th/50th/84th percentiles (quantile type 7), or W = sex (binary,",
                 "its two levels); PROCESS model 7 (W on the a-path) and model 14 (W on the b-path)"),
  model7 = fit_one(7, "treat", "job_seek", "depress2", "econ_hard", covs, 2000),
  model14 = fit_one(14, "treat", "job_seek", "depress2", "econ_hard", covs, 2000),
  model7_binary = fit_one(7, "treat", "job_seek", "depress2", "sex", c("age", "econ_hard"), 0),
  versions = versions)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           file.path("tests", "reference", "moderated_jobs.json"))
