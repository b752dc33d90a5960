# Reference bootstrap intervals for tests/test_references_resampling.py (issue #24): BCa and percentile
# intervals whose only error is Monte Carlo, computed in R with many resamples so that the Python tests can
# compare within a tolerance derived from the Monte Carlo error of both runs.
#
# Run from the repository root (each section takes a few minutes; pass section names to run only some):
#   Rscript tests/reference/resampling.R [latent] [moderated] [htmt] [omega] [bca]
# Writes tests/reference/resampling_<section>_<data>.json.
#
# BCa (Efron 1987) everywhere uses boot::boot.ci(type = "bca") with L = the jackknife influence values
# (n - 1) * (mean(jack) - jack_i), the acceleration definition of efficacy.resampling.bca_interval
# (Efron & Tibshirani 1993, eq. 14.15); boot.ci's default L is a regression estimate from the bootstrap
# frequency array, another estimate of the same influence values. For each interval the JSON stores what
# the tests need for the Monte Carlo SE of an endpoint: the number of finite resamples B, the kernel density
# f of the draws at the endpoint (density(), default bandwidth), the bias-correction proportion
# p = mean(t* < t0), z0 = qnorm(p), the acceleration a and the adjusted levels of the endpoints; for the
# latent model and omega_h also the jackknife (leave-one-out) estimates themselves.
suppressPackageStartupMessages({
  library(lavaan); library(semTools); library(psych); library(boot); library(jsonlite)
})
args <- commandArgs(trailingOnly = TRUE)
sections <- if (length(args)) args else c("latent", "moderated", "htmt", "omega", "bca")
out_dir <- file.path("tests", "reference")
fixture_dir <- Sys.getenv("RESAMPLING_OUT", out_dir)          # smoke runs: elsewhere
nB <- function(b) as.integer(Sys.getenv("RESAMPLING_B", b))      # smoke runs: few resamples
versions <- list(R = R.version.string, lavaan = as.character(packageVersion("lavaan")),
                 semTools = as.character(packageVersion("semTools")),
                 psych = as.character(packageVersion("psych")),
                 GPArotation = as.character(packageVersion("GPArotation")),
                 boot = as.character(packageVersion("boot")))
level <- 0.95
zs <- qnorm(c((1 - level) / 2, (1 + level) / 2))

# a minimal "boot" object around a matrix of replicates, so that boot.ci() can be applied to draws that
# were not made by boot::boot() (lavaan's bootstrap); boot.ci() then uses t0, t and the L we pass.
as_boot <- function(t0, t, data) {
  structure(list(t0 = t0, t = t, R = nrow(t), data = data, seed = .Random.seed,
                 statistic = function(d, i) NULL, sim = "ordinary", stype = "i",
                 call = quote(boot(data, statistic, R)), strata = rep(1, NROW(data)),
                 weights = rep(1 / NROW(data), NROW(data))), class = "boot")
}
dens_at <- function(x, q) {
  d <- density(x, n = 4096)
  approx(d$x, d$y, xout = q)$y
}
bca_block <- function(bo, k, jack, keep_jack = FALSE) {
  t <- bo$t[, k]; t0 <- bo$t0[k]
  ok <- is.finite(t); t <- t[ok]
  L <- (length(jack) - 1) * (mean(jack) - jack)
  ci <- boot.ci(bo, conf = level, type = c("bca", "perc"), index = k, L = L)
  p <- mean(t < t0)
  z0 <- qnorm(p)
  acc <- sum(L^3) / (6 * sum(L^2)^1.5)
  adj <- pnorm(z0 + (z0 + zs) / (1 - acc * (z0 + zs)))
  lim <- ci$bca[4:5]
  list(estimate = unname(t0), B = length(t), n_failed = sum(!ok), boot_sd = sd(t),
       bca = lim, perc = ci$percent[4:5], p = p, z0 = z0, acc = acc, alpha_adj = adj,
       density_bca = dens_at(t, lim), density_perc = dens_at(t, ci$percent[4:5]),
       jackknife = if (keep_jack) unname(jack) else NULL)
}
write_fixture <- function(x, name) {
  x$versions <- versions
  writeLines(toJSON(x, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"), file.path(fixture_dir, name))
}

## 1. Latent mediation (efficacy.mediation.latent.latent_mediation, ci = "bca") --------------------------
## tests/reference/latent_mastery.csv, complete cases (lavaan's listwise deletion), covariate age.
if ("latent" %in% sections) {
  d <- read.csv(file.path(out_dir, "latent_mastery.csv"))
  vars <- c("treat", "age", paste0("se", 1:6), "behavior")
  d <- d[complete.cases(d[, vars]), vars]
  model <- paste("eff =~ se1 + se2 + se3 + se4 + se5 + se6", "eff ~ a*treat + age",
                 "behavior ~ b*eff + c*treat + age", "ind := a*b", "tot := c + a*b", sep = "\n")
  fit <- sem(model, data = d)
  eff <- function(f) {
    p <- coef(f)
    c(a = p[["a"]], b = p[["b"]], direct = p[["c"]], indirect = p[["a"]] * p[["b"]],
      total = p[["c"]] + p[["a"]] * p[["b"]])
  }
  B2 <- nB(10000)
  set.seed(20261207)
  draws <- suppressWarnings(bootstrapLavaan(fit, R = B2, FUN = eff))
  # leave-one-out refits, polished: lavaan's default nlminb tolerances leave up to ~1e-4 relative error in
  # some of them (the likelihood is flat in c), which the influence values (n - 1)(mean - jack_i) multiply
  # by n. Each default fit is continued with rel.tol = 1e-14, x.tol = 1e-12; nlminb then flags most of them
  # as not converged (the tolerance is below what it can certify), so we require instead that the default
  # fit converged and keep whichever of the two has the smaller objective.
  tight <- list(rel.tol = 1e-14, x.tol = 1e-12)
  polished <- 0L
  jack <- t(sapply(seq_len(nrow(d)), function(i) {
    f0 <- sem(model, data = d[-i, ], start = fit)
    stopifnot(lavInspect(f0, "converged"))
    f <- suppressWarnings(sem(model, data = d[-i, ], start = f0, control = tight))
    if (lavInspect(f, "optim")$fx < lavInspect(f0, "optim")$fx) {
      polished <<- polished + 1L
      eff(f)
    } else eff(f0)
  }))
  message("latent jackknife: ", polished, " of ", nrow(d), " leave-one-out fits improved by polishing")
  bo <- as_boot(eff(fit), draws, d)
  res <- lapply(setNames(seq_along(eff(fit)), names(eff(fit))), function(k) bca_block(bo, k, jack[, k], TRUE))
  write_fixture(list(
    source = list(
      script = "tests/reference/resampling.R (section latent)",
      data = "tests/reference/latent_mastery.csv, complete cases on treat, age, se1-se6, behavior",
      model = model,
      call = paste0("set.seed(20261207); bootstrapLavaan(sem(model, data = d), R = ", B2,
                    ", FUN = coef-based effects); jackknife: sem(model, data = d[-i, ], start = fit), ",
                    "continued with control = list(rel.tol = 1e-14, x.tol = 1e-12); ",
                    "boot::boot.ci(type = c('bca', 'perc'), L = (n - 1) * (mean(jack) - jack))"),
      note = paste("n_failed: resamples whose refit failed (dropped, as efficacy does);", polished, "of", nrow(d),
                   "leave-one-out fits improved by polishing")),
    n = nrow(d), R = B2, effects = res), "resampling_latent_mastery.json")
  message("latent done")
}

## 2. Moderated mediation, PROCESS model 7 on JOBS II (efficacy.mediation.moderated_mediation) ------------
## lavaan se = "bootstrap": its bias-corrected interval (boot.ci.type = "bca.simple", no acceleration) and
## percentile interval, and the BCa interval with jackknife acceleration from the same lavaan draws.
if ("moderated" %in% sections) {
  jobs <- read.csv(file.path("data", "raw", "jobs_ii", "data.csv"))
  jobs$xw <- jobs$treat * jobs$econ_hard
  wv <- unname(quantile(jobs$econ_hard, c(0.16, 0.5, 0.84), type = 7))
  f17 <- function(v) sprintf("%.17g", v)
  syn <- paste0("job_seek ~ a1*treat + a2*econ_hard + a3*xw + sex + age\n",
                "depress2 ~ cp*treat + b*job_seek + sex + age\n",
                paste0("ind", 1:3, " := (a1 + a3*", f17(wv), ")*b", collapse = "\n"), "\n",
                "index := a3*b\n")
  effs <- function(cf) {
    cbind(a1 = cf[, "a1"], a2 = cf[, "a2"], a3 = cf[, "a3"], b = cf[, "b"], direct = cf[, "cp"],
          ind1 = (cf[, "a1"] + cf[, "a3"] * wv[1]) * cf[, "b"],
          ind2 = (cf[, "a1"] + cf[, "a3"] * wv[2]) * cf[, "b"],
          ind3 = (cf[, "a1"] + cf[, "a3"] * wv[3]) * cf[, "b"], index = cf[, "a3"] * cf[, "b"])
  }
  B2 <- nB(20000)
  set.seed(20261208)
  fb <- sem(syn, data = jobs, fixed.x = TRUE, meanstructure = TRUE, se = "bootstrap", bootstrap = B2)
  BOOT <- lavInspect(fb, "boot")
  t0 <- effs(t(as.matrix(coef(fb))))[1, ]
  draws <- effs(BOOT)
  # jackknife of the same estimates: the two OLS equations on the data without row i
  one <- function(dd) {
    cm <- coef(lm(job_seek ~ treat + econ_hard + xw + sex + age, data = dd))
    cy <- coef(lm(depress2 ~ treat + job_seek + sex + age, data = dd))
    effs(cbind(a1 = cm[["treat"]], a2 = cm[["econ_hard"]], a3 = cm[["xw"]], b = cy[["job_seek"]],
               cp = cy[["treat"]]))[1, ]
  }
  stopifnot(max(abs(one(jobs) - t0)) < 1e-5)        # lavaan ML = OLS (to its convergence tolerance)
  jack <- t(sapply(seq_len(nrow(jobs)), function(i) one(jobs[-i, ])))
  bo <- as_boot(t0, draws, jobs)
  res <- lapply(setNames(seq_along(t0), names(t0)), function(k) bca_block(bo, k, jack[, k]))
  lab <- c(a1 = "a1", a2 = "a2", a3 = "a3", b = "b", direct = "cp", ind1 = "ind1", ind2 = "ind2",
           ind3 = "ind3", index = "index")
  pe_bc <- parameterEstimates(fb, boot.ci.type = "bca.simple", level = level)
  pe_pc <- parameterEstimates(fb, boot.ci.type = "perc", level = level)
  for (k in names(lab)) {
    r_bc <- pe_bc[pe_bc$label == lab[[k]], ]; r_pc <- pe_pc[pe_pc$label == lab[[k]], ]
    res[[k]]$lavaan_bca_simple <- c(r_bc$ci.lower, r_bc$ci.upper)
    res[[k]]$lavaan_perc <- c(r_pc$ci.lower, r_pc$ci.upper)
  }
  # Monte Carlo CI of the same model (semTools::monteCarloCI, 1e6 draws), for ci = "montecarlo"
  fit <- sem(syn, data = jobs, fixed.x = TRUE, meanstructure = TRUE)
  set.seed(20261209)
  mc <- monteCarloCI(fit, nRep = 1e6, level = level, append.samples = TRUE)
  mc_res <- list()
  for (k in c("ind1", "ind2", "ind3", "index")) {
    x <- mc$Samples[, k]
    lim <- c(mc$Results[k, "ci.lower"], mc$Results[k, "ci.upper"])
    mc_res[[k]] <- list(estimate = mc$Results[k, "est"], ci = lim, sd_draws = sd(x), density = dens_at(x, lim))
  }
  write_fixture(list(
    source = list(
      script = "tests/reference/resampling.R (section moderated)",
      data = "data/raw/jobs_ii/data.csv (JOBS II); X = treat, M = job_seek, Y = depress2, W = econ_hard at its 16/50/84th percentiles (quantile type 7), covariates sex, age; PROCESS model 7",
      syntax = syn,
      call = paste0("set.seed(20261208); sem(syntax, data, fixed.x = TRUE, meanstructure = TRUE, se = 'bootstrap', bootstrap = ",
                    B2, "); lavInspect(fit, 'boot'); parameterEstimates(boot.ci.type = 'bca.simple' / 'perc'); ",
                    "boot::boot.ci(type = 'bca', L = jackknife of the two lm() equations)"),
      montecarlo_call = "set.seed(20261209); semTools::monteCarloCI(sem(syntax, data, fixed.x = TRUE, meanstructure = TRUE), nRep = 1e6, level = 0.95)",
      note = "lavaan's 'bca.simple' is the bias-corrected percentile interval (acceleration 0); 'bca' adds the jackknife acceleration, as efficacy's ci = 'bca'"),
    n = nrow(jobs), R = B2, w_values = wv, effects = res, montecarlo = mc_res), "resampling_moderated_jobs.json")
  message("moderated done")
}

## 3. HTMT2 percentile bootstrap (efficacy.measurement.htmt, n_boot > 0) ---------------------------------
if ("htmt" %in% sections) {
  hs <- read.csv(file.path(out_dir, "sem_hs1939.csv"))[, paste0("x", 1:9)]
  mod <- "vis =~ x1 + x2 + x3\n tex =~ x4 + x5 + x6\n spe =~ x7 + x8 + x9"
  stat <- function(d, i) {
    h <- semTools::htmt(mod, data = d[i, ], htmt2 = TRUE)
    c(vis_tex = h[2, 1], vis_spe = h[3, 1], tex_spe = h[3, 2])
  }
  B2 <- nB(10000)
  set.seed(20261210)
  bo <- boot(hs, stat, R = B2)
  res <- lapply(setNames(1:3, names(bo$t0)), function(k) {
    t <- bo$t[, k]
    lim <- boot.ci(bo, conf = level, type = "perc", index = k)$percent[4:5]
    list(estimate = unname(bo$t0[k]), B = sum(is.finite(t)), perc = lim, boot_sd = sd(t),
         density_perc = dens_at(t[is.finite(t)], lim))
  })
  write_fixture(list(
    source = list(
      script = "tests/reference/resampling.R (section htmt)",
      data = "lavaan::HolzingerSwineford1939 x1-x9 via tests/reference/sem_hs1939.csv",
      call = paste0("set.seed(20261210); boot::boot(HS, function(d, i) semTools::htmt(mod, data = d[i, ], htmt2 = TRUE), R = ",
                    B2, "); boot::boot.ci(type = 'perc')"),
      model = mod),
    n = nrow(hs), R = B2, pairs = res), "resampling_htmt_holzinger.json")
  message("htmt done")
}

## 4. Omega hierarchical BCa (efficacy.reliability.mcdonald_omega with subscales) -------------------------
if ("omega" %in% sections) {
  hs <- read.csv(file.path(out_dir, "sem_hs1939.csv"))[, paste0("x", 1:9)]
  om <- function(x) {
    r <- tryCatch(suppressWarnings(suppressMessages(psych::omega(x, nfactors = 3, plot = FALSE))),
                  error = function(e) NULL)
    if (is.null(r)) NA_real_ else r$omega_h
  }
  B2 <- nB(10000)
  set.seed(20261211)
  bo <- boot(hs, function(d, i) om(d[i, ]), R = B2)
  jack <- sapply(seq_len(nrow(hs)), function(i) om(hs[-i, ]))
  res <- bca_block(bo, 1, jack, TRUE)
  write_fixture(list(
    source = list(
      script = "tests/reference/resampling.R (section omega)",
      data = "lavaan::HolzingerSwineford1939 x1-x9 via tests/reference/sem_hs1939.csv",
      call = paste0("set.seed(20261211); boot::boot(HS, function(d, i) psych::omega(d[i, ], nfactors = 3, plot = FALSE)$omega_h, R = ",
                    B2, "); jackknife psych::omega(HS[-i, ]); boot::boot.ci(type = c('bca', 'perc'), L = (n - 1) * (mean(jack) - jack))"),
      note = "psych::omega: minres, oblimin, Schmid-Leiman; a resample whose omega() errors is NA and dropped"),
    n = nrow(hs), R = B2, omega_h = res), "resampling_omega_holzinger.json")
  message("omega done")
}

## 5. The BCa routine itself on identical draws (efficacy.resampling.bca_interval) ----------------------
## boot's aircondit data (Davison & Hinkley 1997; 12 air-conditioning failure times), the mean: a skewed
## statistic with a large acceleration (~0.1). The fixture stores the 2000 replicates and the jackknife, so the
## test hands the very same numbers to bca_interval; only the quantile convention differs (boot.ci: order
## statistic (B + 1) alpha~ interpolated on the normal scale; numpy: type 7), less than one order-statistic gap.
if ("bca" %in% sections) {
  x <- boot::aircondit$hours
  set.seed(20261215)
  bo <- boot(x, function(d, i) mean(d[i]), R = nB(2000))
  jack <- sapply(seq_along(x), function(i) mean(x[-i]))
  res <- bca_block(bo, 1, jack, TRUE)
  res$draws <- as.numeric(bo$t)
  write_fixture(list(
    source = list(
      script = "tests/reference/resampling.R (section bca)",
      data = "boot::aircondit$hours (Davison & Hinkley 1997)",
      call = "set.seed(20261215); b <- boot::boot(hours, function(d, i) mean(d[i]), R = 2000); boot::boot.ci(b, type = c('bca', 'perc'), L = (n - 1) * (mean(jack) - jack))"),
    n = length(x), R = bo$R, mean = res), "resampling_bca_aircondit.json")
  message("bca done")
}
