# Large-simulation reference for causal_mediation(mediator_model = "logit" | "probit") (binary mediator,
# issue #19), read by tests/test_causal_binary.py.
# R's `mediation` package is not installable here, so, as tests/reference/causal_mediate_sim.R does for a
# linear mediator, this script runs the algorithm of mediation::mediate() written out in R from Imai, Keele &
# Tingley (2010, Algorithm 1) and the package's treatment of a glm mediator (Tingley et al. 2014, JSS 59(5),
# section 3): the mediator model is glm(binomial(link)), its coefficients are drawn from N(coef, vcov)
# (quasi-Bayesian) or refitted on each resample (nonparametric bootstrap), and the potential mediators
# M(1), M(0) of every unit are drawn as independent Bernoulli variables with the predicted probabilities
# (mediate()'s rbinom(n * sims, 1, muM1) and rbinom(n * sims, 1, muM0)); the outcome model's predictions
# at (t, M(t')) give the ACME and ADE as for a linear mediator.
# Data: JOBS II (mediation::jobs, /work/shared/datasets/jobs_ii.csv), mediator job_dich (job-search
# self-efficacy above the median), covariates econ_hard, sex, age; as in the package vignette
# (med.fit <- glm(job_dich ~ treat + econ_hard + sex + age, family = binomial(link = "probit"))).
#   probit_linear:   probit mediator, lm(depress2 ~ job_dich + treat + covariates); quasi-Bayesian and bootstrap
#   logit_probit_int: logit mediator, glm(work ~ job_dich + treat + treat:job_dich + covariates, probit),
#                    work = (work1 == "psyemp"); quasi-Bayesian
# Run from the repository root:  Rscript tests/reference/causal_mediate_binary.R   (about 10 minutes)
# Writes tests/reference/causal_mediate_binary_jobs.json (also the glm fits: coef, vcov).
suppressPackageStartupMessages({library(MASS); library(jsonlite)})
set.seed(20240613)
jobs <- read.csv("/work/shared/datasets/jobs_ii.csv")
jobs$work <- as.numeric(jobs$work1 == "psyemp")
n <- nrow(jobs)
ctrl <- glm.control(epsilon = 1e-14, maxit = 100)

run <- function(med_link, fy, out_family, interaction, S_qb, S_b) {
  med <- glm(job_dich ~ treat + econ_hard + sex + age, data = jobs, family = binomial(med_link), control = ctrl)
  out <- if (is.null(out_family)) lm(fy, data = jobs) else glm(fy, data = jobs, family = out_family, control = ctrl)
  Xm <- model.matrix(med); Xy <- model.matrix(out)
  linv_m <- med$family$linkinv
  linv_y <- if (is.null(out_family)) identity else out$family$linkinv
  iy_m <- which(colnames(Xy) == "job_dich"); iy_t <- which(colnames(Xy) == "treat")
  iy_tm <- which(colnames(Xy) %in% c("treat:job_dich", "job_dich:treat"))
  base_cols <- setdiff(seq_len(ncol(Xy)), c(iy_m, iy_t, iy_tm))
  # effects for S draws: MB (S x km), YB (S x ky); rows of the design idx (bootstrap resample)
  effects <- function(MB, YB, idx = seq_len(n)) {
    S <- nrow(MB)
    Xm1 <- Xm[idx, , drop = FALSE]; Xm1[, "treat"] <- 1
    Xm0 <- Xm[idx, , drop = FALSE]; Xm0[, "treat"] <- 0
    nn <- length(idx)
    mu1 <- linv_m(Xm1 %*% t(MB)); mu0 <- linv_m(Xm0 %*% t(MB))          # nn x S
    M1 <- matrix(rbinom(nn * S, 1, mu1), nn, S); M0 <- matrix(rbinom(nn * S, 1, mu0), nn, S)
    base <- Xy[idx, base_cols, drop = FALSE] %*% t(YB[, base_cols, drop = FALSE])
    bm <- rep(YB[, iy_m], each = nn); bt <- rep(YB[, iy_t], each = nn)
    btm <- if (length(iy_tm)) rep(YB[, iy_tm], each = nn) else 0
    p <- function(tt, m) linv_y(base + bt * tt + bm * m + btm * tt * m)
    y11 <- p(1, M1); y10 <- p(1, M0); y01 <- p(0, M1); y00 <- p(0, M0)
    cbind(d1 = colMeans(y11 - y10), d0 = colMeans(y01 - y00), z1 = colMeans(y11 - y01), z0 = colMeans(y10 - y00))
  }
  named <- function(D) list(acme_control = D[, "d0"], acme_treated = D[, "d1"], ade_control = D[, "z0"],
    ade_treated = D[, "z1"], total = (D[, "d1"] + D[, "d0"] + D[, "z1"] + D[, "z0"]) / 2,
    acme_average = (D[, "d0"] + D[, "d1"]) / 2, ade_average = (D[, "z0"] + D[, "z1"]) / 2)
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
  chunk <- 2000
  D <- do.call(rbind, lapply(seq_len(S_qb / chunk), function(i)
    effects(mvrnorm(chunk, coef(med), vcov(med)), mvrnorm(chunk, coef(out), vcov(out)))))
  res <- list(fits = list(mediator = list(names = names(coef(med)), coef = unname(coef(med)), vcov = unname(vcov(med))),
                          outcome = list(names = names(coef(out)), coef = unname(coef(out)), vcov = unname(vcov(out)))),
              sims_quasi_bayesian = S_qb, quasi_bayesian = summarise(D))
  if (S_b > 0) {
    Db <- t(vapply(seq_len(S_b), function(i) {
      idx <- sample.int(n, n, replace = TRUE)
      mb <- glm.fit(Xm[idx, ], jobs$job_dich[idx], family = binomial(med_link), control = glm.control(epsilon = 1e-10, maxit = 100))
      yb <- if (is.null(out_family)) lm.fit(Xy[idx, ], jobs$depress2[idx])$coefficients else
        glm.fit(Xy[idx, ], model.response(model.frame(out))[idx], family = out_family, control = glm.control(epsilon = 1e-10, maxit = 100))$coefficients
      effects(matrix(mb$coefficients, 1), matrix(yb, 1), idx)[1, ]
    }, numeric(4)))
    colnames(Db) <- c("d1", "d0", "z1", "z0")
    # original-data estimate: its expectation over the Bernoulli draws (mean of 2000 draws; point_sd = the SD
    # of one draw, what mediate() and efficacy report)
    P <- effects(matrix(coef(med), 1)[rep(1, 2000), ], matrix(coef(out), 1)[rep(1, 2000), ])
    res$sims_bootstrap <- S_b
    res$bootstrap <- summarise(Db, P)
  }
  res
}

configs <- list(
  probit_linear = run("probit", depress2 ~ job_dich + treat + econ_hard + sex + age, NULL, FALSE, 200000, 10000),
  logit_probit_int = run("logit", work ~ job_dich + treat + treat:job_dich + econ_hard + sex + age,
                         binomial("probit"), TRUE, 100000, 0))
write_json(list(
  source = list(
    what = "mediate() algorithm (Imai, Keele & Tingley 2010, Algorithm 1) for a binary (glm) mediator, written out in R: quasi-Bayesian and nonparametric bootstrap, independent Bernoulli draws of M(1) and M(0) as mediate() does",
    calls = list(probit_linear = c("glm(job_dich ~ treat + econ_hard + sex + age, binomial('probit'))",
                                   "lm(depress2 ~ job_dich + treat + econ_hard + sex + age)"),
                 logit_probit_int = c("glm(job_dich ~ treat + econ_hard + sex + age, binomial('logit'))",
                                      "glm(work ~ job_dich + treat + treat:job_dich + econ_hard + sex + age, binomial('probit')), work = work1 == 'psyemp'")),
    seed = 20240613, script = "tests/reference/causal_mediate_binary.R",
    data = "/work/shared/datasets/jobs_ii.csv (mediation::jobs)",
    R = R.version.string, MASS = as.character(packageVersion("MASS")),
    note = "quasi-Bayesian estimates are draw means; bootstrap estimates are the expectation of the original-data estimate over the Bernoulli draws (point_sd = SD of one draw)"),
  configs = configs), "tests/reference/causal_mediate_binary_jobs.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
