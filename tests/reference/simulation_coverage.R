# Reference for efficacy.simulation.coverage_study (tests/test_references_simulation.py, issue #24): the
# same simulation design run in R with boot::boot.ci, for the coverage and rejection rates of the
# percentile and BCa bootstrap intervals of the indirect effect a*b.
#
# Design (as coverage_study and Fritz & MacKinnon 2007): X ~ N(0, 1), M = a X + e_M, Y = b M + e_Y
# (no direct effect), unit error variances; n cases, `reps` replications, B case resamples each. a and b by
# OLS (M ~ X; Y ~ X + M). Intervals: boot::boot.ci(type = "perc") and boot.ci(type = "bca") with
# L = jackknife influence values (n - 1) (mean(jack) - jack_i), the acceleration of efficacy's BCa.
# Quantile conventions: boot.ci reads its endpoints at order statistic (B + 1) alpha (interpolated on the
# normal scale); efficacy.simulation uses numpy's default quantile (R's type 7, position 1 + (B - 1) alpha)
# for the percentile interval and the inverse empirical CDF (R's type 1) at the adjusted levels for BCa. At
# B = 400 the two rules are one order statistic apart in each tail, which moves a type-I error of ~0.03 by
# ~0.01 (several Monte Carlo SEs here). So the same intervals are also computed with efficacy's rules
# ("perc_q7": quantile(type = 7); "bca_q1": the BCa levels from boot.ci's z0 and acceleration read with
# quantile(type = 1)); the tests compare with those and the boot.ci columns document the difference.
# Targets: "indirect" (a = b = 0.39: coverage of a*b and power) and "type1" (a = 0.39, b = 0: coverage of 0
# and type-I error). Monte Carlo SE of a rate p: sqrt(p (1 - p) / reps).
# Run from the repository root:  Rscript tests/reference/simulation_coverage.R   (about a minute per cell)
# Writes tests/reference/simulation_coverage.json.
suppressPackageStartupMessages({ library(boot); library(jsonlite) })
set.seed(20261213)
level <- 0.95

as_boot <- function(t0, t, n) {
  structure(list(t0 = t0, t = matrix(t, ncol = 1), R = length(t), data = seq_len(n), seed = .Random.seed,
                 statistic = function(d, i) NULL, sim = "ordinary", stype = "i",
                 call = quote(boot(data, statistic, R)), strata = rep(1, n), weights = rep(1 / n, n)),
            class = "boot")
}
ab_lm <- function(x, m, y) {                     # a from M ~ X, b from Y ~ X + M (.lm.fit = lm's QR)
  one <- rep(1, length(x))
  .lm.fit(cbind(one, x), m)$coefficients[2] * .lm.fit(cbind(one, x, m), y)$coefficients[3]
}
ab_rows <- function(X, M, Y) {                   # the same OLS for each row of B x n resampled matrices
  n <- ncol(X)
  mx <- rowMeans(X); mm <- rowMeans(M); my <- rowMeans(Y)
  cxx <- rowSums(X * X) - n * mx^2; cxm <- rowSums(X * M) - n * mx * mm
  cxy <- rowSums(X * Y) - n * mx * my; cmm <- rowSums(M * M) - n * mm^2; cmy <- rowSums(M * Y) - n * mm * my
  (cxm / cxx) * (cxx * cmy - cxm * cxy) / (cxx * cmm - cxm^2)
}
cell <- function(n, a, b, reps, B) {
  res <- matrix(NA_real_, reps, 9, dimnames = list(NULL, c("est", "perc_lo", "perc_hi", "bca_lo", "bca_hi",
                                                          "perc_q7_lo", "perc_q7_hi", "bca_q1_lo", "bca_q1_hi")))
  zs <- qnorm(c((1 - level) / 2, (1 + level) / 2))
  for (r in seq_len(reps)) {
    x <- rnorm(n); m <- a * x + rnorm(n); y <- b * m + rnorm(n)
    t0 <- ab_lm(x, m, y)
    idx <- matrix(sample.int(n, n * B, replace = TRUE), B, n)
    t <- ab_rows(matrix(x[idx], B), matrix(m[idx], B), matrix(y[idx], B))
    jack <- vapply(seq_len(n), function(i) ab_lm(x[-i], m[-i], y[-i]), 0)
    L <- (n - 1) * (mean(jack) - jack)
    ci <- suppressWarnings(boot.ci(as_boot(t0, t, n), conf = level, type = c("perc", "bca"), L = L))
    z0 <- qnorm((sum(t < t0) + 0.5 * sum(t == t0)) / B)
    acc <- sum(L^3) / (6 * sum(L^2)^1.5)
    adj <- pnorm(z0 + (z0 + zs) / (1 - acc * (z0 + zs)))
    res[r, ] <- c(t0, ci$percent[4:5], ci$bca[4:5], quantile(t, (1 + c(-level, level)) / 2, type = 7),
                  quantile(t, adj, type = 1))
  }
  true <- a * b
  rate <- function(v) list(rate = mean(v), mcse = sqrt(mean(v) * (1 - mean(v)) / reps))
  out <- list(n = n, a = a, b = b, true_value = true, reps = reps, B = B)
  for (meth in c("perc", "bca", "perc_q7", "bca_q1")) {
    lo <- res[, paste0(meth, "_lo")]; hi <- res[, paste0(meth, "_hi")]
    stopifnot(all(is.finite(lo) & is.finite(hi)))
    out[[meth]] <- list(coverage = rate(lo <= true & true <= hi), rejection = rate(lo > 0 | hi < 0),
                        miss_left = rate(hi < true), miss_right = rate(lo > true))
  }
  out$bias <- mean(res[, "est"]) - true
  out
}
reps <- as.integer(Sys.getenv("COVERAGE_REPS", 10000))
B <- 400
cells <- list(indirect_n25 = cell(25, 0.39, 0.39, reps, B), type1_n25 = cell(25, 0.39, 0, reps, B))

# Single replications with their resample indices stored (0-based, row-major B x n), so that the test can
# feed the very same resamples to efficacy's simulation code: its percentile and BCa limits must equal R's
# computed with the same quantile rules exactly, and boot.ci's up to one order statistic.
single <- function(n, a, b, B) {
  x <- rnorm(n); m <- a * x + rnorm(n); y <- b * m + rnorm(n)
  t0 <- ab_lm(x, m, y)
  idx <- matrix(sample.int(n, n * B, replace = TRUE), B, n)
  t <- ab_rows(matrix(x[idx], B), matrix(m[idx], B), matrix(y[idx], B))
  jack <- vapply(seq_len(n), function(i) ab_lm(x[-i], m[-i], y[-i]), 0)
  L <- (n - 1) * (mean(jack) - jack)
  ci <- suppressWarnings(boot.ci(as_boot(t0, t, n), conf = level, type = c("perc", "bca"), L = L))
  zs <- qnorm(c((1 - level) / 2, (1 + level) / 2))
  z0 <- qnorm((sum(t < t0) + 0.5 * sum(t == t0)) / B)
  acc <- sum(L^3) / (6 * sum(L^2)^1.5)
  adj <- pnorm(z0 + (z0 + zs) / (1 - acc * (z0 + zs)))
  list(n = n, a = a, b = b, B = B, x = x, m = m, y = y, idx0 = as.vector(t(idx)) - 1L, estimate = t0,
       perc = ci$percent[4:5], bca = ci$bca[4:5], perc_q7 = unname(quantile(t, (1 + c(-level, level)) / 2, type = 7)),
       bca_q1 = unname(quantile(t, adj, type = 1)), z0 = z0, acc = acc, alpha_adj = adj)
}
set.seed(20261216)
singles <- list(indirect_n20 = single(20, 0.39, 0.39, 500), type1_n20 = single(20, 0.39, 0, 500))
writeLines(toJSON(list(
  source = list(
    script = "tests/reference/simulation_coverage.R", seed = 20261213,
    design = "X ~ N(0,1); M = a X + e; Y = b M + e; e ~ N(0,1); OLS a (M ~ X), b (Y ~ X + M)",
    call = paste0("per replication: B = ", B, " case resamples; boot::boot.ci(type = c('perc', 'bca'), conf = 0.95, ",
                  "L = (n - 1) * (mean(jack) - jack)); perc_q7: quantile(t, c(.025, .975), type = 7); ",
                  "bca_q1: quantile(t, pnorm(z0 + (z0 + z) / (1 - acc (z0 + z))), type = 1)"),
    R = R.version.string, boot = as.character(packageVersion("boot"))),
  cells = cells, single = singles), auto_unbox = TRUE, digits = NA, pretty = TRUE),
  file.path("tests", "reference", "simulation_coverage.json"))
