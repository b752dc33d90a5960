# Large-simulation reference for efficacy.mediation.causal.causal_mediation (issue #24), read by tests/test_causal.py.
# R's `mediation` package is not installable here, so this script runs the algorithm of
# mediation::mediate() -- Imai, Keele & Tingley (2010), Algorithm 1 (quasi-Bayesian, "sims" draws of both
# models' coefficients from N(coef, vcov)) and its nonparametric bootstrap (both models refitted on the
# same resample, percentile interval, original-data point estimate) -- written out in R from the paper,
# for the framing example with a probit outcome, with many more draws than the published 100.
# The mediator error: one N(0, sigma^2) draw per unit and simulation, shared by M(1) and M(0), sigma =
# summary(lm)$sigma (the refit's sigma in the bootstrap), as mediate() does for an lm mediator.
# Its output is checked in tests/test_causal.py against the published 100-simulation tables of an
# independent implementation (statsmodels' Mediation, causal_published_framing.json), so this script is
# itself held against outside numbers.
# Run from the repository root:  Rscript tests/reference/causal_mediate_sim.R   (about 1 minute)
# Writes tests/reference/causal_mediate_sim_framing.json
suppressPackageStartupMessages({library(MASS); library(jsonlite)})
set.seed(20240524)
framing <- read.csv("tests/reference/causal_framing.csv")
covs <- "age + educ + gender + income"
fm <- as.formula(paste("emo ~ treat +", covs))
fy <- as.formula(paste("cong_mesg ~ emo + treat +", covs))
med <- lm(fm, data = framing)
out <- glm(fy, data = framing, family = binomial("probit"), control = glm.control(epsilon = 1e-14, maxit = 100))
n <- nrow(framing)
Xm <- model.matrix(med); Xy <- model.matrix(out)
it <- which(colnames(Xm) == "treat"); iym <- which(colnames(Xy) == "emo"); iyt <- which(colnames(Xy) == "treat")
cov_m <- Xm[, -c(1, it), drop = FALSE]; cov_y <- Xy[, -c(1, iym, iyt), drop = FALSE]

# effects for S coefficient draws: MB (S x km) mediator coefs, YB (S x ky) outcome coefs, E (n x S) errors
effects <- function(MB, YB, E) {
  base_m <- cov_m %*% t(MB[, -c(1, it), drop = FALSE]) + rep(MB[, 1], each = n) + E       # n x S
  m1 <- base_m + rep(MB[, it], each = n); m0 <- base_m
  base_y <- cov_y %*% t(YB[, -c(1, iym, iyt), drop = FALSE]) + rep(YB[, 1], each = n)
  p <- function(t, m) pnorm(base_y + rep(YB[, iyt] * t, each = n) + rep(YB[, iym], each = n) * m)
  y11 <- p(1, m1); y10 <- p(1, m0); y01 <- p(0, m1); y00 <- p(0, m0)
  cbind(d1 = colMeans(y11 - y10), d0 = colMeans(y01 - y00), z1 = colMeans(y11 - y01), z0 = colMeans(y10 - y00))
}
named <- function(D) {
  list(acme_control = D[, "d0"], acme_treated = D[, "d1"], ade_control = D[, "z0"], ade_treated = D[, "z1"],
       total = (D[, "d1"] + D[, "d0"] + D[, "z1"] + D[, "z0"]) / 2, acme_average = (D[, "d0"] + D[, "d1"]) / 2,
       ade_average = (D[, "z0"] + D[, "z1"]) / 2)
}
# P: draws of the original-data estimate over the mediator error (bootstrap only)
summarise <- function(D, P = NULL) {
  eff <- named(D); pe <- if (is.null(P)) NULL else named(P)
  lapply(setNames(names(eff), names(eff)), function(e) {
    x <- eff[[e]]
    r <- list(estimate = if (is.null(P)) mean(x) else mean(pe[[e]]),
              ci_low = unname(quantile(x, 0.025)), ci_high = unname(quantile(x, 0.975)),
              sd_draws = sd(x), p_value = min(1, 2 * min(sum(x > 0), sum(x < 0)) / length(x)))
    if (!is.null(P)) r$point_sd <- sd(pe[[e]])
    r
  })
}

# quasi-Bayesian
S_qb <- 200000; chunk <- 5000
D <- do.call(rbind, lapply(seq_len(S_qb / chunk), function(i) {
  MB <- mvrnorm(chunk, coef(med), vcov(med)); YB <- mvrnorm(chunk, coef(out), vcov(out))
  effects(MB, YB, matrix(rnorm(n * chunk, 0, summary(med)$sigma), n, chunk))
}))
qb <- summarise(D)

# nonparametric bootstrap
S_b <- 20000
Db <- t(vapply(seq_len(S_b), function(i) {
  idx <- sample.int(n, n, replace = TRUE)
  mb <- lm.fit(Xm[idx, ], framing$emo[idx])
  sig <- sqrt(sum(mb$residuals^2) / mb$df.residual)
  yb <- glm.fit(Xy[idx, ], framing$cong_mesg[idx], family = binomial("probit"),
                control = glm.control(epsilon = 1e-10, maxit = 100))
  # effects over the resample's units, as mediate() predicts on the resampled data
  cov_m <<- Xm[idx, -c(1, it), drop = FALSE]; cov_y <<- Xy[idx, -c(1, iym, iyt), drop = FALSE]
  e <- effects(matrix(mb$coefficients, 1), matrix(yb$coefficients, 1), matrix(rnorm(n, 0, sig), n, 1))
  cov_m <<- Xm[, -c(1, it), drop = FALSE]; cov_y <<- Xy[, -c(1, iym, iyt), drop = FALSE]
  e[1, ]
}, numeric(4)))
colnames(Db) <- c("d1", "d0", "z1", "z0")
# original-data point estimate (mediate() >= 4.5 reports it): average over many error draws, so the
# fixture holds its expectation; one draw (what mediate and efficacy use) differs by MC noise
# (point_sd = the SD of one such draw, for the tests' tolerance)
P <- effects(matrix(coef(med), 1)[rep(1, 4000), ], matrix(coef(out), 1)[rep(1, 4000), ],
             matrix(rnorm(n * 4000, 0, summary(med)$sigma), n, 4000))
boot <- summarise(Db, P)

res <- list(
  source = list(
    what = "mediate() algorithm (Imai, Keele & Tingley 2010, Algorithm 1; quasi-Bayesian and nonparametric bootstrap) written out in R, framing data, probit outcome",
    calls = c("lm(emo ~ treat + age + educ + gender + income)",
              "glm(cong_mesg ~ emo + treat + age + educ + gender + income, binomial('probit'))"),
    sims_quasi_bayesian = S_qb, sims_bootstrap = S_b, seed = 20240524,
    script = "tests/reference/causal_mediate_sim.R", data = "tests/reference/causal_framing.csv",
    R = R.version.string, MASS = as.character(packageVersion("MASS")),
    note = "sd_draws is the SD of the simulated effect; point estimates for quasi-Bayesian are draw means, for the bootstrap the expectation of the original-data estimate over the mediator error"),
  quasi_bayesian = qb, bootstrap = boot)
write_json(res, "tests/reference/causal_mediate_sim_framing.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
