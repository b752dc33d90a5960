# Reference values for efficacy.mediation.interventional_effects (tests/test_interventional.py, issue #19).
#
# No R package computes interventional effects with this parametrisation (CMAverse and intmed are not on
# this machine), so this script writes the g-formula out in base R, twice:
#   exact: the expectations over the mediator distributions computed without simulation: binary mediators by
#          enumerating their values, a normal mediator by Gauss-Hermite quadrature (60 nodes, Golub-Welsch);
#   mc:    the Monte Carlo g-computation (independent Bernoulli / normal draws, D draws per unit), to show
#          the simulation algorithm converges to the exact values (its Monte Carlo SE is recorded).
# Definitions (Vansteelandt & Daniel 2017, Epidemiology 28(2)): with G_a a joint draw of (M1, M2) given
# treatment a and covariates, and G_a^j an independent draw of M_j alone from its marginal given a:
#   direct = E Y(1, G_0) - E Y(0, G_0);  indirect[M1] = E Y(1, G_1^1, G_0^2) - E Y(1, G_0^1, G_0^2);
#   indirect[M2] = E Y(1, G_1^1, G_1^2) - E Y(1, G_1^1, G_0^2);
#   dependence = {E Y(1, G_1) - E Y(1, G_1^1, G_1^2)} - {E Y(1, G_0) - E Y(1, G_0^1, G_0^2)};
#   indirect_total = E Y(1, G_1) - E Y(1, G_0);  total = E Y(1, G_1) - E Y(0, G_0).
# The joint mediator distribution is the sequential model M1 ~ T + C, M2 ~ T + M1 + C; the marginal of M2
# given a is the mixture over M1 of that model.
# Data: JOBS II (data/raw/jobs_ii/data.csv = mediation::jobs), covariates econ_hard, sex, age;
# work = (work1 == "psyemp"), dep_dich = (depress2 > median(depress2)).
#   mixed_logit_int: M1 = job_dich (logit), M2 = depress2 (linear), Y = work (logit) with treat:M1, treat:M2
#   binary_logit:    M1 = job_dich (logit), M2 = dep_dich (logit), Y = work (logit), no interaction
# Run from the repository root:  Rscript tests/reference/interventional.R   (about 1 minute)
# Writes tests/reference/interventional_jobs.json.
suppressPackageStartupMessages(library(jsonlite))
set.seed(20261207)
jobs <- read.csv(file.path("data", "raw", "jobs_ii", "data.csv"))
jobs$work <- as.numeric(jobs$work1 == "psyemp")
jobs$dep_dich <- as.numeric(jobs$depress2 > median(jobs$depress2))
n <- nrow(jobs)
ctrl <- glm.control(epsilon = 1e-14, maxit = 100)
expit <- function(e) 1 / (1 + exp(-e))

gauss_hermite <- function(K) {            # nodes/weights for int f(x) exp(-x^2) dx
  J <- matrix(0, K, K); off <- sqrt(seq_len(K - 1) / 2)
  J[cbind(1:(K - 1), 2:K)] <- off; J[cbind(2:K, 1:(K - 1))] <- off
  e <- eigen(J, symmetric = TRUE)
  list(x = e$values, w = sqrt(pi) * e$vectors[1, ]^2)
}
gh <- gauss_hermite(60)

Cmat <- cbind(1, jobs$econ_hard, jobs$sex, jobs$age)      # intercept + covariates
coefs <- function(fit, names) unname(coef(fit)[names])

effects_from <- function(E) {   # E: function(ay, kind, s1, s2) -> mean outcome
  y1j1 <- E(1, "joint", 1, 1); y1j0 <- E(1, "joint", 0, 0); y0j0 <- E(0, "joint", 0, 0)
  y1i0 <- E(1, "indep", 0, 0); y1i1 <- E(1, "indep", 1, 0); y1i2 <- E(1, "indep", 1, 1)
  c(direct = y1j0 - y0j0, indirect_m1 = y1i1 - y1i0, indirect_m2 = y1i2 - y1i1,
    dependence = (y1j1 - y1i2) - (y1j0 - y1i0), indirect_total = y1j1 - y1j0, total = y1j1 - y0j0)
}

## ---------------------------------------------------------------- case 1: mixed chain, logit outcome, T x M
m1 <- glm(job_dich ~ treat + econ_hard + sex + age, family = binomial("logit"), data = jobs, control = ctrl)
m2 <- lm(depress2 ~ treat + job_dich + econ_hard + sex + age, data = jobs)
yf <- glm(work ~ treat + job_dich + depress2 + treat:job_dich + treat:depress2 + econ_hard + sex + age,
          family = binomial("logit"), data = jobs, control = ctrl)
g1 <- coef(m1); g2 <- coef(m2); s2 <- summary(m2)$sigma; by <- coef(yf)
p1 <- function(a) expit(Cmat %*% g1[c("(Intercept)", "econ_hard", "sex", "age")] + g1["treat"] * a)[, 1]
mu2 <- function(a, m) (Cmat %*% g2[c("(Intercept)", "econ_hard", "sex", "age")] + g2["treat"] * a + g2["job_dich"] * m)[, 1]
eta_y <- function(ay, x1, x2)     # x1, x2 vectors or matrices (n x D)
  as.vector(Cmat %*% by[c("(Intercept)", "econ_hard", "sex", "age")]) + by["treat"] * ay +
    (by["job_dich"] + by["treat:job_dich"] * ay) * x1 + (by["depress2"] + by["treat:depress2"] * ay) * x2
# int expit(eta(ay, m1, m2)) N(m2; mu, s2) dm2
gh_int <- function(ay, x1, mu) {
  acc <- 0
  for (k in seq_along(gh$x)) acc <- acc + gh$w[k] * expit(eta_y(ay, x1, mu + s2 * sqrt(2) * gh$x[k]))
  acc / sqrt(pi)
}
exact1 <- function(ay, kind, s1, s2a) {
  tot <- 0
  for (x1 in 0:1) {
    pr1 <- if (x1 == 1) p1(s1) else 1 - p1(s1)
    if (kind == "joint") {             # M2 given the same M1
      tot <- tot + pr1 * gh_int(ay, x1, mu2(s1, x1))
    } else {                           # M2 from its marginal under s2a: mixture over an independent M1'
      for (x1b in 0:1) {
        pr1b <- if (x1b == 1) p1(s2a) else 1 - p1(s2a)
        tot <- tot + pr1 * pr1b * gh_int(ay, x1, mu2(s2a, x1b))
      }
    }
  }
  mean(tot)
}
ex1 <- effects_from(exact1)

# Monte Carlo g-computation in base R (D independent draws per unit; a fresh set per scenario)
D <- 4000
mc_case1 <- function() {
  draw_chain <- function(a) {          # joint draw (M1, M2) under a: n x D each
    M1 <- matrix(rbinom(n * D, 1, p1(a)), n, D)
    M2 <- mu2(a, 0) + g2["job_dich"] * M1 + s2 * matrix(rnorm(n * D), n, D)
    list(M1 = M1, M2 = M2)
  }
  E <- function(ay, kind, s1, s2a) {
    if (kind == "joint") { ch <- draw_chain(s1); X1 <- ch$M1; X2 <- ch$M2 }
    else { X1 <- draw_chain(s1)$M1; X2 <- draw_chain(s2a)$M2 }
    f <- expit(eta_y(ay, X1, X2))
    c(mean(f), sd(colMeans(f)) / sqrt(D))
  }
  y1j1 <- E(1, "joint", 1, 1); y1j0 <- E(1, "joint", 0, 0); y0j0 <- E(0, "joint", 0, 0)
  y1i0 <- E(1, "indep", 0, 0); y1i1 <- E(1, "indep", 1, 0); y1i2 <- E(1, "indep", 1, 1)
  est <- c(direct = y1j0[1] - y0j0[1], indirect_m1 = y1i1[1] - y1i0[1], indirect_m2 = y1i2[1] - y1i1[1],
           dependence = (y1j1[1] - y1i2[1]) - (y1j0[1] - y1i0[1]), indirect_total = y1j1[1] - y1j0[1],
           total = y1j1[1] - y0j0[1])
  # scenarios are independent: SE of a difference of two (four) scenario means
  se <- c(direct = sqrt(y1j0[2]^2 + y0j0[2]^2), indirect_m1 = sqrt(y1i1[2]^2 + y1i0[2]^2),
          indirect_m2 = sqrt(y1i2[2]^2 + y1i1[2]^2),
          dependence = sqrt(y1j1[2]^2 + y1i2[2]^2 + y1j0[2]^2 + y1i0[2]^2),
          indirect_total = sqrt(y1j1[2]^2 + y1j0[2]^2), total = sqrt(y1j1[2]^2 + y0j0[2]^2))
  list(estimate = est, mc_se = se)
}
mc1 <- mc_case1()
names(mc1$estimate) <- names(ex1); names(mc1$mc_se) <- names(ex1)
stopifnot(all(abs(mc1$estimate - ex1) < 4.5 * mc1$mc_se))

## ---------------------------------------------------------------- case 2: two binary mediators, logit outcome
b1 <- glm(job_dich ~ treat + econ_hard + sex + age, family = binomial("logit"), data = jobs, control = ctrl)
b2 <- glm(dep_dich ~ treat + job_dich + econ_hard + sex + age, family = binomial("logit"), data = jobs, control = ctrl)
yb <- glm(work ~ treat + job_dich + dep_dich + econ_hard + sex + age, family = binomial("logit"), data = jobs,
          control = ctrl)
h1 <- coef(b1); h2 <- coef(b2); hy <- coef(yb)
cov4 <- c("(Intercept)", "econ_hard", "sex", "age")
q1 <- function(a) expit(Cmat %*% h1[cov4] + h1["treat"] * a)[, 1]
q2 <- function(a, x1) expit(Cmat %*% h2[cov4] + h2["treat"] * a + h2["job_dich"] * x1)[, 1]
fy <- function(ay, x1, x2) expit(Cmat %*% hy[cov4] + hy["treat"] * ay + hy["job_dich"] * x1 + hy["dep_dich"] * x2)[, 1]
pb <- function(p, x) if (x == 1) p else 1 - p
exact2 <- function(ay, kind, s1, s2a) {
  tot <- 0
  for (x1 in 0:1) for (x2 in 0:1) {
    if (kind == "joint") {
      pr <- pb(q1(s1), x1) * pb(q2(s1, x1), x2)
    } else {                             # P(M2 = x2 | s2a) = sum over M1' of the chain
      marg2 <- pb(q2(s2a, 1), x2) * q1(s2a) + pb(q2(s2a, 0), x2) * (1 - q1(s2a))
      pr <- pb(q1(s1), x1) * marg2
    }
    tot <- tot + pr * fy(ay, x1, x2)
  }
  mean(tot)
}
ex2 <- effects_from(exact2)

out <- list(
  source = list(script = "tests/reference/interventional.R", R = R.version.string,
                note = paste("Interventional effects (Vansteelandt & Daniel 2017) by the g-formula written in base R:",
                             "exact = enumeration of binary mediators and 60-node Gauss-Hermite quadrature over the",
                             "normal mediator; mc = Monte Carlo g-computation with D =", D, "draws per unit.",
                             "glm(control = glm.control(epsilon = 1e-14)).")),
  mixed_logit_int = list(
    call = paste("glm(job_dich ~ treat + econ_hard + sex + age, binomial('logit'));",
                 "lm(depress2 ~ treat + job_dich + econ_hard + sex + age);",
                 "glm(work ~ treat + job_dich + depress2 + treat:job_dich + treat:depress2 + econ_hard + sex + age, binomial('logit'))"),
    n = n, exact = as.list(ex1), mc = as.list(mc1$estimate), mc_se = as.list(mc1$mc_se), mc_draws = D,
    coef_m1 = as.list(coef(m1)), coef_m2 = as.list(coef(m2)), sigma_m2 = s2, coef_y = as.list(coef(yf))),
  binary_logit = list(
    call = paste("glm(job_dich ~ treat + econ_hard + sex + age, binomial('logit'));",
                 "glm(dep_dich ~ treat + job_dich + econ_hard + sex + age, binomial('logit'));",
                 "glm(work ~ treat + job_dich + dep_dich + econ_hard + sex + age, binomial('logit'))"),
    n = n, exact = as.list(ex2), coef_m1 = as.list(h1), coef_m2 = as.list(h2), coef_y = as.list(hy))
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "tests/reference/interventional_jobs.json")
print(rbind(exact = ex1, mc = mc1$estimate, mc_se = mc1$mc_se)); print(ex2)
