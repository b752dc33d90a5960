# Reference values for efficacy.mediation.encouragement (tests/test_encouragement.py): the effect of the
# mediator on the outcome by two-stage least squares with the encouragement (manipulation-of-mediator) arm
# as instrument, heteroskedasticity-robust (HC1) standard errors, the first-stage F (conventional and
# robust), the control-function (Wooldridge) test of the mediator's exogeneity, and the observational
# b-path by OLS with the same covariates.
# Run from the repository root:  Rscript tests/reference/encouragement.R
# Writes tests/reference/encouragement_sim.csv (the simulated data) and encouragement_sim.json.
#
# Every number is computed twice and the two must agree to 1e-10: AER::ivreg with sandwich::vcovHC(type =
# "HC1"), and base R by hand (2SLS = lm of y on the first-stage fitted mediator; the sandwich
# bread (Xhat'Xhat)^-1, meat sum e_i^2 xhat_i xhat_i' with the structural residuals e = y - X b, times
# n / (n - k)).
suppressPackageStartupMessages({
  library(jsonlite)
  library(AER)
  library(sandwich)
})
out_dir <- file.path("tests", "reference")
versions <- list(R = R.version.string, AER = as.character(packageVersion("AER")),
                 sandwich = as.character(packageVersion("sandwich")))

# ---- the data: a parallel encouragement design (Imai, Tingley & Yamamoto 2013) ----------------------
# x: randomised treatment; z: randomised encouragement of the mediator (e.g. a mastery booster session);
# c: a pre-treatment covariate; u: an UNOBSERVED confounder of mediator and outcome, so that OLS of y on m
# is biased upwards (true M -> Y effect 0.4) while 2SLS with z is consistent. Errors heteroskedastic in c.
set.seed(20261207)
n <- 400
x <- rbinom(n, 1, 0.5)
z <- rbinom(n, 1, 0.5)
c1 <- round(rnorm(n), 4)
u <- rnorm(n)
m <- round(0.5 * x + 0.6 * z + 0.3 * c1 + 0.8 * u + rnorm(n), 4)
y <- round(0.4 * m + 0.3 * x + 0.2 * c1 + 0.8 * u + rnorm(n) * (1 + 0.5 * abs(c1)), 4)
d <- data.frame(x = x, z = z, c1 = c1, m = m, y = y)
write.csv(d, file.path(out_dir, "encouragement_sim.csv"), row.names = FALSE)
d <- read.csv(file.path(out_dir, "encouragement_sim.csv"))   # the values the tests read

# weak arms: the same design with an encouragement that barely moves the mediator (first-stage F < 10).
# Not written to a file: the tests rebuild them from encouragement_sim.csv. dw (m - 0.55 z): the
# Anderson-Rubin set is the whole line; dw2 (m - 0.45 z, y + 0.3 z, a significant reduced form): two rays.
dw <- transform(d, m = m - 0.55 * z)
dw2 <- transform(d, m = m - 0.45 * z, y = y + 0.3 * z)

hc1 <- function(X, e, Xhat = X) {  # HC1 sandwich by hand
  n <- nrow(X); k <- ncol(X)
  bread <- solve(crossprod(Xhat))
  meat <- crossprod(Xhat * as.vector(e))
  bread %*% meat %*% bread * n / (n - k)
}

one <- function(d, exog) {
  rhs <- paste(c("m", exog), collapse = " + ")
  ins <- paste(c("z", exog), collapse = " + ")
  f_iv <- as.formula(paste("y ~", rhs, "|", ins))
  iv <- ivreg(f_iv, data = d)
  V <- vcovHC(iv, type = "HC1")
  # by hand
  X <- cbind(1, as.matrix(d[, c("m", exog), drop = FALSE]))
  Z <- cbind(1, as.matrix(d[, c("z", exog), drop = FALSE]))
  Xhat <- Z %*% solve(crossprod(Z), crossprod(Z, X))
  b <- solve(crossprod(Xhat), crossprod(Xhat, d$y))
  e <- d$y - X %*% b
  Vh <- hc1(X, e, Xhat)
  stopifnot(max(abs(b - coef(iv))) < 1e-10 * max(1, abs(b)), max(abs(Vh - V)) < 1e-10 * max(1, abs(V)))
  k <- ncol(X); n <- nrow(X); dfr <- n - k
  est <- unname(coef(iv)["m"]); se <- sqrt(V["m", "m"])
  tq <- qt(0.975, dfr)
  # first stage: m on z and the exogenous regressors
  fs <- lm(as.formula(paste("m ~", ins)), data = d)
  Vf <- vcovHC(fs, type = "HC1")
  pz <- unname(coef(fs)["z"])
  f_conv <- unname(summary(fs)$coefficients["z", "t value"]^2)
  f_rob <- pz^2 / Vf["z", "z"]
  # the same conventional F as the nested-model F test
  fs0 <- lm(as.formula(paste("m ~", if (length(exog)) paste(exog, collapse = " + ") else "1")), data = d)
  stopifnot(abs(anova(fs0, fs)$F[2] - f_conv) < 1e-8)
  # reduced form: y on z and the exogenous regressors
  rf <- lm(as.formula(paste("y ~", ins)), data = d)
  Vr <- vcovHC(rf, type = "HC1")
  # observational b-path: OLS of y on m and the exogenous regressors, HC1
  ols <- lm(as.formula(paste("y ~", rhs)), data = d)
  Vo <- vcovHC(ols, type = "HC1")
  # control-function (Wooldridge 2010, 6.3.1) test: y on m, exog and the first-stage residual, HC1
  d$vhat <- resid(fs)
  cf <- lm(as.formula(paste("y ~", rhs, "+ vhat")), data = d)
  Vc <- vcovHC(cf, type = "HC1")
  cf_stat <- unname(coef(cf)["vhat"]^2 / Vc["vhat", "vhat"])
  # Anderson-Rubin (1949) test of b = b0, robust to weak instruments: the HC1 Wald t of z in the
  # regression of y - b0 m on z and the exogenous regressors. Its coefficient is pi_y - b0 pi_m (reduced
  # form minus b0 times first stage), its HC1 variance V_yy - 2 b0 V_ym + b0^2 V_mm (the sandwich is
  # bilinear in the residuals), so the 95% set {b0: t^2 <= qt(.975, df)^2} solves a quadratic.
  W <- cbind(1, as.matrix(d[, c(exog, "z"), drop = FALSE]))
  kz <- ncol(W)
  bw <- solve(crossprod(W))
  ey <- resid(rf); em <- resid(fs)
  hcw <- function(a, b) (bw %*% crossprod(W * as.vector(a), W * as.vector(b)) %*% bw * n / (n - kz))[kz, kz]
  Vyy <- hcw(ey, ey); Vmm <- hcw(em, em); Vym <- hcw(ey, em)
  stopifnot(abs(Vyy - Vr["z", "z"]) < 1e-12, abs(Vmm - Vf["z", "z"]) < 1e-12)
  py <- unname(coef(rf)["z"])
  ar_t <- function(b0) {  # the AR t statistic by an actual regression, for the check
    d$ytil <- d$y - b0 * d$m
    a <- lm(as.formula(paste("ytil ~", ins)), data = d)
    unname(coef(a)["z"] / sqrt(vcovHC(a, type = "HC1")["z", "z"]))
  }
  q <- qt(0.975, fs$df.residual)^2
  A <- pz^2 - q * Vmm; B <- -2 * (py * pz - q * Vym); C <- py^2 - q * Vyy
  disc <- B^2 - 4 * A * C
  roots <- if (disc >= 0) sort((-B + c(-1, 1) * sqrt(disc)) / (2 * A)) else c(NA, NA)
  kind <- if (A > 0) "bounded" else if (disc >= 0) "two rays" else "whole line"
  if (disc >= 0) stopifnot(abs(abs(ar_t(roots[1])) - sqrt(q)) < 1e-8, abs(abs(ar_t(roots[2])) - sqrt(q)) < 1e-8)
  t0 <- ar_t(0)
  stopifnot(abs(t0 - py / sqrt(Vyy)) < 1e-10)
  ar <- list(kind = kind, roots = roots, statistic_b0 = t0, pvalue_b0 = 2 * pt(-abs(t0), fs$df.residual),
             V_ym = Vym, critical = q)
  row <- function(est, se, df) list(estimate = est, se = se, statistic = est / se,
                                    pvalue = 2 * pt(-abs(est / se), df),
                                    ci_low = est - qt(0.975, df) * se, ci_high = est + qt(0.975, df) * se)
  list(exog = exog, n = n, df_resid = dfr,
       b_iv = row(est, se, dfr),
       b_ols = row(unname(coef(ols)["m"]), sqrt(Vo["m", "m"]), ols$df.residual),
       first_stage = row(pz, sqrt(Vf["z", "z"]), fs$df.residual),
       reduced_form = row(unname(coef(rf)["z"]), sqrt(Vr["z", "z"]), rf$df.residual),
       first_stage_f = f_conv, first_stage_f_robust = f_rob,
       first_stage_f_pvalue = pf(f_conv, 1, fs$df.residual, lower.tail = FALSE),
       anderson_rubin = ar,
       endogeneity_statistic = cf_stat, endogeneity_pvalue = pchisq(cf_stat, 1, lower.tail = FALSE),
       coef_iv = as.list(coef(iv)), vcov_iv_diag = as.list(diag(V)))
}

res <- list(
  source = paste("AER::ivreg(y ~ m + <exog> | z + <exog>) with sandwich::vcovHC(type = 'HC1'), checked against",
                 "2SLS and the HC1 sandwich by hand in base R; first stage, reduced form and OLS b-path by lm with",
                 "vcovHC HC1; first-stage F conventional (summary(lm) t^2 = anova F) and robust (Wald with HC1);",
                 "control-function exogeneity test = HC1 Wald chi2(1) of the first-stage residual. t intervals",
                 "with the residual df (95%)."),
  script = "tests/reference/encouragement.R", versions = versions,
  data = "tests/reference/encouragement_sim.csv (simulated here, set.seed(20261207); true M -> Y effect 0.4)",
  with_x_and_covariate = one(d, c("x", "c1")),
  instrument_only = one(d, character(0)),
  weak_instrument = one(dw, c("x", "c1")),
  weak_two_rays = one(dw2, c("x", "c1")))
write_json(res, file.path(out_dir, "encouragement_sim.json"), digits = NA, auto_unbox = TRUE, pretty = TRUE)
cat("b_iv", res$with_x_and_covariate$b_iv$estimate, "b_ols", res$with_x_and_covariate$b_ols$estimate,
    "F", res$with_x_and_covariate$first_stage_f, "\n")
