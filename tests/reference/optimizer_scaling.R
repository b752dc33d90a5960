# Reference values for the SEM engine on badly scaled indicators (issues #18 / #22): tests/test_sem_scaling.py.
# Run from the repository root:  Rscript tests/reference/optimizer_scaling.R
# Writes tests/reference/optimizer_scaling_sim.csv (the simulated data) and
# tests/reference/optimizer_scaling_sim.json (R calls, package versions, estimates and fit measures).
#
# Simulated self-efficacy data, 3 groups x 300: two correlated factors, each measured by two 0-100
# confidence ratings (c1..c4, variances ~300-400) and two 1-5 Likert items (l1..l4, variances ~1), so that
# within one factor the loadings differ by a factor ~20 and the variances by ~400. 'task' has a 0-100
# marker (c1), 'cope' a 1-5 marker (l3). About 6% of c2 and l4 missing completely at random (for FIML).
# 1. Multi-group CFA, marker identification, group.equal = configural / loadings / + intercepts / + residuals,
#    ML on the complete rows (listwise) and FIML (missing = "ml"): parameterEstimates, fitMeasures.
# 2. Single-group CFA on all rows, FIML and listwise ML.
# lavaan's own default optimiser (nlminb, unscaled parameters) has the same difficulty on such data: ~200-280
# iterations, and it stops short of the optimum (configural FIML: chisq 6e-4 too high, estimates 3e-3 off;
# metric ML: chisq 1.5e-3 too high). Asked for a tighter rel.tol, nlminb ends in "false convergence".
# The reference values therefore come from (a) lavaan's Gauss-Newton optimiser (optim.method = "GN") run to
# |gradient| ~1e-14, for the listwise ML configural and metric models and the single-group ML model (GN stops
# at a higher chi-square than nlminb for the scalar and strict models, with free latent means, so not used
# there), and (b) for every model, the best (lowest chi-square) of three nlminb runs: raw data, data with the
# 0-100 items divided by 10 (transformed back: ML is equivariant under rescaling), and that with a tight
# rel.tol. These locate the optimum to ~1e-5 relative; the test's tolerance says so. lavaan's default runs on
# the raw data are stored too (nlminb_default).
suppressPackageStartupMessages({
  library(jsonlite)
  library(lavaan)
})
out_dir <- file.path("tests", "reference")
versions <- list(R = R.version.string, lavaan = as.character(packageVersion("lavaan")))

set.seed(20261207)
n <- 300
sim_group <- function(g) {
  Phi <- matrix(c(1, 0.45, 0.45, 1), 2)
  f <- matrix(rnorm(2 * n), n) %*% chol(Phi)
  f[, 1] <- f[, 1] + c(0, 0.25, -0.2)[g]
  f[, 2] <- f[, 2] + c(0, -0.15, 0.3)[g]
  conf <- cbind(58 + 16 * f[, 1], 61 + 14 * f[, 1], 55 + 15 * f[, 2], 63 + 13 * f[, 2]) +
    matrix(rnorm(4 * n, sd = 11), n)
  conf[, 2] <- conf[, 2] + c(0, 4, 0)[g]             # a non-invariant intercept
  lik <- cbind(3.1 + 0.75 * f[, 1], 2.9 + 0.7 * f[, 1], 3.2 + 0.8 * f[, 2], 3.0 + 0.65 * f[, 2]) +
    matrix(rnorm(4 * n, sd = 0.6), n)
  conf <- pmin(pmax(round(conf), 0), 100)
  lik <- pmin(pmax(round(lik), 1), 5)
  d <- data.frame(conf, lik)
  names(d) <- c("c1", "c2", "c3", "c4", "l1", "l2", "l3", "l4")
  d$country <- c("A", "B", "C")[g]
  d
}
dat <- do.call(rbind, lapply(1:3, sim_group))
dat$c2[runif(nrow(dat)) < 0.06] <- NA
dat$l4[runif(nrow(dat)) < 0.06] <- NA
write.csv(dat, file.path(out_dir, "optimizer_scaling_sim.csv"), row.names = FALSE, na = "")

mixed <- "task =~ c1 + c2 + l1 + l2\ncope =~ l3 + l4 + c3 + c4"
eqs <- list(configural = "", metric = "loadings", scalar = c("loadings", "intercepts"),
            strict = c("loadings", "intercepts", "residuals"))
fm <- c("chisq", "df", "npar", "logl", "unrestricted.logl", "cfi", "tli", "rmsea", "srmr")
# Parameter estimates on the scale of the data: `k` = the factor each variable was divided by before the
# fit (1 = unchanged); a factor takes the factor of its marker. ML (and FIML) estimates are equivariant:
# loading f -> j times k_j / k_f, (co)variances times k_a k_b, intercepts / means times k.
pack <- function(f, k = NULL) {
  pe <- parameterEstimates(f)
  pe <- pe[pe$op %in% c("=~", "~~", "~1"), ]
  if (is.null(pe$group)) pe$group <- 1L
  est <- pe$est
  se <- pe$se
  if (!is.null(k)) {
    kv <- function(v) ifelse(v %in% names(k), k[v], 1)
    a <- kv(pe$lhs)
    b <- ifelse(pe$op == "~1", 1, kv(pe$rhs))
    m <- ifelse(pe$op == "=~", b / a, a * b)
    est <- est * m
    se <- se * m
  }
  list(converged = lavInspect(f, "converged"), iterations = lavInspect(f, "iterations"),
       max_abs_gradient = max(abs(lavInspect(f, "gradient"))),
       fit = as.list(fitMeasures(f, fm)),
       estimates = list(lhs = pe$lhs, op = pe$op, rhs = pe$rhs, group = pe$group, est = est, se = se))
}
# the 0-100 items divided by 10 (variances ~3-4, next to ~1) and the scale of each variable's estimates
k <- c(c1 = 10, c2 = 10, c3 = 10, c4 = 10, task = 10, cope = 1)
dat10 <- dat
for (v in c("c1", "c2", "c3", "c4")) dat10[[v]] <- dat10[[v]] / 10
tight <- list(rel.tol = 1e-15, x.tol = 1e-15, iter.max = 5000, eval.max = 10000)
# lavaan's best nlminb optimum: of the default run on the raw data, the default run on the rescaled data and a
# run on the rescaled data asked for rel.tol = 1e-15 (nlminb then stops with "false convergence", kept with
# optim.force.converged), the one with the lowest chi-square. nlminb locates these optima to ~1e-5 relative.
best_nlminb <- function(d_raw, d10, ...) {
  fits <- list(raw = pack(cfa(mixed, data = d_raw, ...)),
               rescaled = pack(cfa(mixed, data = d10, ...), k),
               rescaled_tight = pack(cfa(mixed, data = d10, ..., control = tight, optim.force.converged = TRUE), k))
  chisq <- sapply(fits, function(x) x$fit$chisq)
  b <- fits[[which.min(chisq)]]
  b$run <- names(fits)[which.min(chisq)]
  b$chisq_runs <- as.list(chisq)
  b
}
res <- list()
for (step in names(eqs)) {
  # listwise ML: lavaan's Gauss-Newton (Fisher scoring) optimiser, run to |gradient| ~ 1e-14 (configural,
  # metric; for the scalar and strict models GN stops at a higher chi-square than nlminb, so not used)
  if (step %in% c("configural", "metric")) {
    res$ml_gn[[step]] <- pack(cfa(mixed, data = dat, group = "country", group.equal = eqs[[step]],
                                  optim.method = "GN", optim.gn.tol.x = 1e-12, optim.gn.iter.max = 1000))
  }
  res$ml[[step]] <- best_nlminb(dat, dat10, group = "country", group.equal = eqs[[step]])
  res$fiml[[step]] <- best_nlminb(dat, dat10, group = "country", group.equal = eqs[[step]], missing = "ml")
}
res$single_ml_gn <- pack(cfa(mixed, data = dat, optim.method = "GN", optim.gn.tol.x = 1e-12,
                             optim.gn.iter.max = 1000))
res$single_fiml <- best_nlminb(dat, dat10, missing = "ml")
# lavaan's defaults on the raw data: iterations and where they stop
res$nlminb_default <- list(
  ml = lapply(eqs, function(e) pack(cfa(mixed, data = dat, group = "country", group.equal = e))[c("iterations", "fit")]),
  fiml = lapply(eqs, function(e) pack(cfa(mixed, data = dat, group = "country", group.equal = e,
                                            missing = "ml"))[c("iterations", "fit")]))

out <- c(list(source = c(list(
  data = "optimizer_scaling_sim.csv, simulated by this script (set.seed(20261207))",
  model = mixed,
  ml_gn = paste0("cfa(mixed, data, group = 'country', group.equal = ..., optim.method = 'GN', ",
                 "optim.gn.tol.x = 1e-12, optim.gn.iter.max = 1000) (configural, metric)"),
  ml = paste0("best of three nlminb runs (lowest chisq, see $run): cfa(mixed, data, group = 'country', ",
              "group.equal = ...) on the raw data; the same on the data with c1..c4 / 10, and with control = ",
              "list(rel.tol = 1e-15, x.tol = 1e-15), optim.force.converged = TRUE; rescaled estimates and SEs ",
              "transformed back (loadings x k_j / k_f, (co)variances x k_a k_b, intercepts and means x k; k = 10 ",
              "for c1..c4 and task, 1 otherwise)"),
  fiml = "as ml, with missing = 'ml'",
  single_ml_gn = "cfa(mixed, data, optim.method = 'GN', optim.gn.tol.x = 1e-12) (groups pooled, listwise)",
  single_fiml = "as ml: cfa(mixed, data, missing = 'ml'), best of three nlminb runs",
  nlminb_default = "cfa(mixed, data, group = 'country', group.equal = ..., [missing = 'ml']), lavaan's defaults",
  script = "tests/reference/optimizer_scaling.R"), versions)), res)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           file.path(out_dir, "optimizer_scaling_sim.json"))
cat("done\n")
