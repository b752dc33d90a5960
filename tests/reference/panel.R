# Reference values for efficacy.panel (issue #6).
# Run from the repository root:  Rscript tests/reference/panel.R
# Writes:
#   tests/reference/panel_sim.csv            4-wave panel (x1..x4, y1..y4), complete
#   tests/reference/panel_sim_missing.csv    the same panel with MAR missing values (NA)
#   tests/reference/panel_sim.json           lavaan CLPM / RI-CLPM fits on the complete panel
#   tests/reference/panel_sim_missing.json   the same fits with missing = "ml" (FIML)
#   tests/reference/panel_log.csv            intensive log, unequal occasions per person (long)
#   tests/reference/panel_log.json           lme4::lmer within/between lagged models on the log
#
# RI-CLPM syntax: Mulder & Hamaker (2021), Structural Equation Modeling 28(4), 638-648,
# fitted with lavaan(..., meanstructure = TRUE, int.ov.free = TRUE) as they do.
# The CLPM is the same model with the random-intercept variances and covariance fixed
# to zero (Mulder & Hamaker's nesting), so CLPM vs RI-CLPM is a 3-df comparison.
suppressPackageStartupMessages({
  library(lavaan)
  library(lme4)
  library(jsonlite)
})

out_dir <- "tests/reference"
set.seed(20260606)

## ---------------------------------------------------------------- simulation
## True data-generating model (stationary within-person VAR(1) + random intercepts)
truth <- list(
  n = 500L, waves = 4L,
  ri_var_x = 1.0, ri_var_y = 1.0, ri_cov = 0.6,       # stable between-person part
  ar_x = 0.40, ar_y = 0.30,                              # autoregressive (within)
  cl_xy = 0.25,                                          # x_{t-1} -> y_t   (present)
  cl_yx = 0.00,                                          # y_{t-1} -> x_t   (absent)
  w1_var_x = 1.0, w1_var_y = 1.0, w1_cov = 0.3,
  innov_var_x = 0.8, innov_var_y = 0.8, innov_cov = 0.2,
  mean_x = c(3.0, 3.1, 3.2, 3.3), mean_y = c(2.0, 2.0, 2.1, 2.2)
)
rmvn2 <- function(n, v1, v2, c12) {
  L <- chol(matrix(c(v1, c12, c12, v2), 2))
  matrix(rnorm(2 * n), n) %*% L
}
n <- truth$n; Tw <- truth$waves
ri <- rmvn2(n, truth$ri_var_x, truth$ri_var_y, truth$ri_cov)
wx <- wy <- matrix(NA_real_, n, Tw)
w1 <- rmvn2(n, truth$w1_var_x, truth$w1_var_y, truth$w1_cov)
wx[, 1] <- w1[, 1]; wy[, 1] <- w1[, 2]
for (t in 2:Tw) {
  u <- rmvn2(n, truth$innov_var_x, truth$innov_var_y, truth$innov_cov)
  wx[, t] <- truth$ar_x * wx[, t - 1] + truth$cl_yx * wy[, t - 1] + u[, 1]
  wy[, t] <- truth$cl_xy * wx[, t - 1] + truth$ar_y * wy[, t - 1] + u[, 2]
}
dat <- data.frame(id = seq_len(n))
for (t in 1:Tw) dat[[paste0("x", t)]] <- truth$mean_x[t] + ri[, 1] + wx[, t]
for (t in 1:Tw) dat[[paste0("y", t)]] <- truth$mean_y[t] + ri[, 2] + wy[, t]
dat <- dat[, c("id", paste0("x", 1:Tw), paste0("y", 1:Tw))]

## MAR missingness: waves 2..4 missing with probability depending on the previous x
datm <- dat
for (t in 2:Tw) {
  p <- plogis(-2.2 + 0.8 * as.numeric(scale(dat[[paste0("x", t - 1)]])))
  miss <- runif(n) < p
  datm[[paste0("x", t)]][miss] <- NA
  miss2 <- runif(n) < p
  datm[[paste0("y", t)]][miss2] <- NA
}

## time-invariant covariate z, related to the random intercepts (complete in both files)
z <- round(0.5 * as.numeric(scale(ri[, 1])) + rnorm(n), 6)
dat$z <- z; datm$z <- z
write.csv(dat, file.path(out_dir, "panel_sim.csv"), row.names = FALSE)
write.csv(datm, file.path(out_dir, "panel_sim_missing.csv"), row.names = FALSE, na = "")

## ---------------------------------------------------------------- syntax
riclpm_syntax <- function(Tw, stationary = FALSE, clpm = FALSE, covariate = NULL) {
  s <- c(
    paste0("RIx =~ ", paste0("1*x", 1:Tw, collapse = " + ")),
    paste0("RIy =~ ", paste0("1*y", 1:Tw, collapse = " + ")),
    paste0("wx", 1:Tw, " =~ 1*x", 1:Tw),
    paste0("wy", 1:Tw, " =~ 1*y", 1:Tw)
  )
  for (t in 2:Tw) {
    if (stationary) {
      s <- c(s, sprintf("wx%d ~ a*wx%d + b*wy%d", t, t - 1, t - 1),
                sprintf("wy%d ~ c*wx%d + d*wy%d", t, t - 1, t - 1))
    } else {
      s <- c(s, sprintf("wx%d ~ wx%d + wy%d", t, t - 1, t - 1),
                sprintf("wy%d ~ wx%d + wy%d", t, t - 1, t - 1))
    }
  }
  s <- c(s, "wx1 ~~ wy1", sprintf("wx%d ~~ wy%d", 2:Tw, 2:Tw))
  if (clpm) {
    s <- c(s, "RIx ~~ 0*RIx", "RIy ~~ 0*RIy", "RIx ~~ 0*RIy")
  } else {
    s <- c(s, "RIx ~~ RIx", "RIy ~~ RIy", "RIx ~~ RIy")
  }
  s <- c(s, sprintf("wx%d ~~ wx%d", 1:Tw, 1:Tw), sprintf("wy%d ~~ wy%d", 1:Tw, 1:Tw))
  # Mulder & Hamaker (2021) extension 1: time-invariant covariate on the observed variables
  if (!is.null(covariate))
    s <- c(s, paste(paste(c(paste0("x", 1:Tw), paste0("y", 1:Tw)), collapse = " + "), "~", covariate))
  paste(s, collapse = "\n")
}

fit_measures <- c("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "rmsea.ci.lower",
                  "rmsea.ci.upper", "srmr", "logl", "aic", "bic", "npar", "ntotal")
fit_one <- function(d, model, missing) {
  syn <- riclpm_syntax(Tw, stationary = grepl("stationary", model), clpm = grepl("^clpm", model),
                       covariate = if (grepl("_z$", model)) "z" else NULL)
  call <- sprintf('lavaan(model, data = d, meanstructure = TRUE, int.ov.free = TRUE, missing = "%s")', missing)
  f <- lavaan(syn, data = d, meanstructure = TRUE, int.ov.free = TRUE, missing = missing)
  fm <- as.list(fitMeasures(f, fit_measures))
  names(fm) <- c("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "rmsea_ci_low", "rmsea_ci_high",
                 "srmr", "loglik", "aic", "bic", "npar", "n")
  pe <- parameterEstimates(f, standardized = TRUE)
  if (is.null(pe$label)) pe$label <- ""
  pe <- pe[, c("lhs", "op", "rhs", "label", "est", "se", "z", "pvalue", "ci.lower", "ci.upper", "std.all")]
  names(pe) <- c("lhs", "op", "rhs", "label", "est", "se", "z", "pvalue", "ci_low", "ci_high", "std_all")
  list(syntax = syn, call = call, converged = lavInspect(f, "converged"),
       fit = fm, estimates = pe)
}

models <- c("clpm", "clpm_stationary", "riclpm", "riclpm_stationary", "clpm_z", "riclpm_z")
for (set in list(list(d = dat, tag = "panel_sim", missing = "listwise", csv = "panel_sim.csv"),
                 list(d = datm, tag = "panel_sim_missing", missing = "ml", csv = "panel_sim_missing.csv"))) {
  res <- lapply(models, function(m) fit_one(set$d, m, set$missing))
  names(res) <- models
  fit_free <- lavaan(riclpm_syntax(Tw), data = set$d, meanstructure = TRUE, int.ov.free = TRUE,
                     missing = set$missing)
  fit_clpm <- lavaan(riclpm_syntax(Tw, clpm = TRUE), data = set$d, meanstructure = TRUE,
                     int.ov.free = TRUE, missing = set$missing)
  fit_stat <- lavaan(riclpm_syntax(Tw, stationary = TRUE), data = set$d, meanstructure = TRUE,
                     int.ov.free = TRUE, missing = set$missing)
  lrt1 <- lavTestLRT(fit_free, fit_clpm)
  lrt2 <- lavTestLRT(fit_free, fit_stat)
  lrt <- list(riclpm_vs_clpm = as.list(lrt1[2, c("Chisq diff", "Df diff", "Pr(>Chisq)")]),
              riclpm_stationary_vs_free = as.list(lrt2[2, c("Chisq diff", "Df diff", "Pr(>Chisq)")]))
  for (k in names(lrt)) names(lrt[[k]]) <- c("chisq_diff", "df_diff", "pvalue")
  out <- list(
    source = list(script = "tests/reference/panel.R", data = file.path(out_dir, set$csv),
                  R = R.version.string, lavaan = as.character(packageVersion("lavaan")),
                  missing = set$missing,
                  note = "RI-CLPM syntax of Mulder & Hamaker (2021); CLPM = RI variances/covariance fixed to 0"),
    truth = truth, models = res, lrt = lrt)
  write_json(out, file.path(out_dir, paste0(set$tag, ".json")), digits = NA, auto_unbox = TRUE,
             pretty = TRUE, na = "null")
}

## ---------------------------------------------------------------- intensive log (within-person MLM)
set.seed(20260607)
np <- 120L
occ <- sample(3:15, np, replace = TRUE)           # unequal numbers of occasions
rows <- list()
for (i in seq_len(np)) {
  bx <- rnorm(1, 0, 1); by <- 0.5 * bx + rnorm(1, 0, 0.8)   # between parts (correlated)
  slope <- rnorm(1, -0.20, 0.15)                            # within-person x -> y, varies by person
  x <- y <- numeric(occ[i])
  x[1] <- rnorm(1); y[1] <- rnorm(1)
  for (t in 2:occ[i]) {
    x[t] <- 0.3 * x[t - 1] + rnorm(1, 0, 0.9)
    y[t] <- slope * x[t - 1] + 0.2 * y[t - 1] + rnorm(1, 0, 0.9)  # over-efficaciousness: negative within
  }
  age <- round(runif(1, 20, 60))
  rows[[i]] <- data.frame(person = sprintf("p%03d", i), day = seq_len(occ[i]),
                          eff = 50 + 10 * bx + 5 * x, beh = 3 + by + y, age = age)
}
logd <- do.call(rbind, rows)
write.csv(logd, file.path(out_dir, "panel_log.csv"), row.names = FALSE)

## lagged (previous day, day - 1), person-mean centred over the analysed rows.
## Cross-lagged predictor: within part (deviation from the person mean) and between part
## (the person mean); autoregressive predictor: within part only (its person mean would
## absorb the random intercept, Hamaker & Grasman 2015).
prep <- function(d) {
  d <- d[order(d$person, d$day), ]
  key <- paste(d$person, d$day)
  prev <- match(paste(d$person, d$day - 1), key)
  d$eff_lag <- d$eff[prev]; d$beh_lag <- d$beh[prev]
  d <- d[!is.na(d$eff_lag) & !is.na(d$beh_lag), ]
  for (v in c("eff_lag", "beh_lag")) {
    pm <- ave(d[[v]], d$person)
    d[[paste0(v, "_between")]] <- pm
    d[[paste0(v, "_within")]] <- d[[v]] - pm
  }
  d
}
ld <- prep(logd)
mlm <- function(form, reml) {
  f <- lmer(form, data = ld, REML = reml,
            control = lmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5)))
  co <- summary(f)$coefficients
  vc <- as.data.frame(VarCorr(f))
  list(formula = deparse(form), REML = reml, loglik = as.numeric(logLik(f)),
       fixed = data.frame(term = rownames(co), est = co[, 1], se = co[, 2], row.names = NULL),
       varcomp = data.frame(grp = vc$grp, var1 = vc$var1, var2 = ifelse(is.na(vc$var2), "", vc$var2),
                            vcov = vc$vcov))
}
pred_beh <- "eff_lag_within + eff_lag_between + beh_lag_within"
pred_eff <- "beh_lag_within + beh_lag_between + eff_lag_within"
logres <- list(
  source = list(script = "tests/reference/panel.R", data = file.path(out_dir, "panel_log.csv"),
                R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                lag = "value at day - 1 of the same person; rows without it dropped",
                centring = "person mean of each lagged predictor over the analysed rows"),
  n_rows = nrow(ld), n_persons = length(unique(ld$person)),
  beh_reml = mlm(as.formula(paste("beh ~", pred_beh, "+ (1 | person)")), TRUE),
  beh_ml = mlm(as.formula(paste("beh ~", pred_beh, "+ (1 | person)")), FALSE),
  eff_reml = mlm(as.formula(paste("eff ~", pred_eff, "+ (1 | person)")), TRUE),
  beh_reml_slope = mlm(as.formula(paste("beh ~", pred_beh, "+ (1 + eff_lag_within | person)")), TRUE),
  beh_reml_age = mlm(as.formula(paste("beh ~", pred_beh, "+ age + (1 | person)")), TRUE)
)
write_json(logres, file.path(out_dir, "panel_log.json"), digits = NA, auto_unbox = TRUE,
           pretty = TRUE, na = "null")
cat("done\n")
