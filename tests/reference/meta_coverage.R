# Reference for efficacy.simulation.meta_coverage (tests/test_references_simulation.py, issue #24): the same
# design run in R with metafor, for the coverage of the pooled random-effects estimate.
#
# Design (as meta_coverage): k studies with n_i = seq(20, 200, length.out = k), v_i = 4 / n_i,
# y_i ~ N(mu, tau2 + v_i), mu = 0.3, tau2 = 0.05; pooled by metafor::rma(yi, vi, method = "DL") with a normal
# (test = "z") or Knapp-Hartung (test = "knha") interval. Coverage of mu and its Monte Carlo SE
# sqrt(p (1 - p) / reps).
# Run from the repository root:  Rscript tests/reference/meta_coverage.R   (a few minutes)
# Writes tests/reference/meta_coverage.json.
suppressPackageStartupMessages({ library(metafor); library(jsonlite) })
set.seed(20261214)
reps <- as.integer(Sys.getenv("META_COVERAGE_REPS", 10000))
mu <- 0.3; tau2 <- 0.05
cells <- list()
for (k in c(3L, 5L, 20L)) {
  vi <- 4 / seq(20, 200, length.out = k)
  hit <- matrix(NA, reps, 2, dimnames = list(NULL, c("DL-z", "DL-knha")))
  for (r in seq_len(reps)) {
    yi <- rnorm(k, mu, sqrt(tau2 + vi))
    fz <- rma(yi, vi, method = "DL")
    fk <- rma(yi, vi, method = "DL", test = "knha")
    hit[r, ] <- c(fz$ci.lb <= mu & mu <= fz$ci.ub, fk$ci.lb <= mu & mu <= fk$ci.ub)
  }
  cells[[paste0("k", k)]] <- list(k = k, reps = reps, coverage = as.list(colMeans(hit)),
                                  mcse = as.list(sqrt(colMeans(hit) * (1 - colMeans(hit)) / reps)))
}
writeLines(toJSON(list(
  source = list(script = "tests/reference/meta_coverage.R", seed = 20261214,
                design = "k studies, n_i = seq(20, 200, length.out = k), vi = 4 / n_i, yi ~ N(0.3, 0.05 + vi)",
                call = "metafor::rma(yi, vi, method = 'DL') and rma(yi, vi, method = 'DL', test = 'knha'); coverage of mu = 0.3",
                R = R.version.string, metafor = as.character(packageVersion("metafor"))),
  mu = mu, tau2 = tau2, cells = cells), auto_unbox = TRUE, digits = NA, pretty = TRUE),
  file.path("tests", "reference", "meta_coverage.json"))
