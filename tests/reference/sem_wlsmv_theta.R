# Reference values for tests/test_wlsmv_theta.py: WLSMV in lavaan's "theta" parameterisation (residual variances of
# the latent responses are parameters, scaling factors derived) in efficacy.sem, single- and multi-group, and the
# strict step of ordinal invariance (Wu & Estabrook 2016 identification written by semTools::measEq.syntax).
# lavaan 0.6.14, semTools 0.5.6. Run from the repository root:  Rscript tests/reference/sem_wlsmv_theta.R
# Reads  tests/reference/categorical_hs_cut.csv  (HolzingerSwineford1939 x1..x9 cut into 3-5 categories, as for
#                                                  sem_wlsmv.R) and tests/reference/sem_hs1939.csv (school column)
# Writes tests/reference/sem_wlsmv_theta_fits.json
suppressPackageStartupMessages({library(lavaan); library(semTools); library(jsonlite)})
out_dir <- "tests/reference"
hs <- read.csv(file.path(out_dir, "categorical_hs_cut.csv"))[, paste0("x", 1:9)]
hs_school <- read.csv(file.path(out_dir, "sem_hs1939.csv"))$school
versions <- list(R = R.version.string, lavaan = as.character(packageVersion("lavaan")),
                 semTools = as.character(packageVersion("semTools")))
fm_names <- c("npar", "chisq", "df", "pvalue", "chisq.scaled", "df.scaled", "pvalue.scaled", "chisq.scaling.factor",
              "chisq.shift.parameters", "baseline.chisq", "baseline.df", "baseline.chisq.scaled", "cfi", "tli",
              "cfi.scaled", "tli.scaled", "cfi.robust", "tli.robust", "rmsea", "rmsea.scaled", "rmsea.robust", "srmr",
              "ntotal")
take <- function(fit, call) {
  fm <- as.list(fitMeasures(fit, fm_names))
  pe <- parameterEstimates(fit)
  ss <- standardizedSolution(fit)
  if (is.null(pe$group)) pe$group <- 1L
  if (is.null(ss$group)) ss$group <- 1L
  list(call = call,
       options = lavInspect(fit, "options")[c("estimator", "se", "test", "parameterization")],
       nobs = lavInspect(fit, "nobs"), converged = lavInspect(fit, "converged"), fit = fm,
       estimates = list(lhs = pe$lhs, op = pe$op, rhs = pe$rhs, group = pe$group, est = pe$est, se = pe$se),
       std = list(lhs = ss$lhs, op = ss$op, rhs = ss$rhs, group = ss$group, est_std = ss$est.std))
}
m_hs <- "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
m_hs_sem <- paste0(m_hs, "\nspeed ~ visual + textual\nx2 ~~ x3")
f_hs <- cfa(m_hs, hs, ordered = names(hs), estimator = "WLSMV", parameterization = "theta")
f_hs_sem <- sem(m_hs_sem, hs, ordered = names(hs), estimator = "WLSMV", parameterization = "theta")
f_hs_delta <- cfa(m_hs, hs, ordered = names(hs), estimator = "WLSMV", parameterization = "delta")

# ---- multi-group: Wu & Estabrook (2016) via measEq.syntax, theta parameterisation, strict step included -------
hs_g <- hs
hs_g$school <- hs_school
ords <- paste0("x", 1:9)
meq <- function(eq, partial = NULL, par = "theta") {
  # do.call: measEq.syntax evaluates some arguments in the calling frame by name, so pass values
  s <- do.call(measEq.syntax, list(configural.model = m_hs, data = hs_g, ordered = ords, parameterization = par,
                                   ID.fac = "std.lv", ID.cat = "Wu.Estabrook.2016", group = "school", group.equal = eq,
                                   group.partial = partial))
  cfa(as.character(s), data = hs_g, group = "school", ordered = ords, estimator = "WLSMV", parameterization = par)
}
meq_call <- function(eq, partial = "NULL", par = "theta") {
  paste0("cfa(as.character(measEq.syntax(m_hs, hs_g, ordered = paste0('x', 1:9), parameterization = '", par, "', ",
         "ID.fac = 'std.lv', ID.cat = 'Wu.Estabrook.2016', group = 'school', group.equal = ", deparse(eq),
         ", group.partial = ", partial, ")), hs_g, group = 'school', ordered = paste0('x', 1:9), estimator = 'WLSMV', ",
         "parameterization = '", par, "')")
}
steps <- list(configural = "", thresholds = "thresholds", metric = c("thresholds", "loadings"),
              scalar = c("thresholds", "loadings", "intercepts"),
              strict = c("thresholds", "loadings", "intercepts", "residuals"))
fits <- lapply(steps, meq)
mg <- list()
for (k in names(steps)) mg[[paste0("mg_", k)]] <- take(fits[[k]], meq_call(steps[[k]]))
f_sp <- meq(steps$strict, partial = c("x3 ~~ x3"))
mg$mg_strict_partial <- take(f_sp, meq_call(steps$strict, "'x3 ~~ x3'"))
f_scalar_delta <- meq(steps$scalar, par = "delta")
# efficacy.measurement.invariance(ordered = TRUE) frees x3 ~ 1 after the scalar step fails; its strict step keeps it free
f_ps <- meq(steps$scalar, partial = c("x3 ~ 1"))
f_sps <- meq(steps$strict, partial = c("x3 ~ 1"))
mg$mg_partial_scalar_x3 <- take(f_ps, meq_call(steps$scalar, "'x3 ~ 1'"))
mg$mg_strict_x3 <- take(f_sps, meq_call(steps$strict, "'x3 ~ 1'"))
lrt <- function(a, b) { t <- lavTestLRT(a, b); list(statistic = t[2, "Chisq diff"], df = t[2, "Df diff"],
                                                    pvalue = t[2, "Pr(>Chisq)"]) }
mg_lrt <- list(thresholds = lrt(fits$configural, fits$thresholds), metric = lrt(fits$thresholds, fits$metric),
               scalar = lrt(fits$metric, fits$scalar), strict = lrt(fits$scalar, fits$strict),
               strict_partial = lrt(fits$scalar, f_sp), strict_x3 = lrt(f_ps, f_sps),
               partial_scalar_x3 = lrt(fits$metric, f_ps))

out <- list(
  source = list(script = "tests/reference/sem_wlsmv_theta.R", versions = versions,
                data = "categorical_hs_cut.csv (HolzingerSwineford1939 x1..x9 cut into 3-5 categories), school from sem_hs1939.csv",
                note = paste("WLSMV = DWLS estimates, se = 'robust.sem', test = 'scaled.shifted',",
                             "parameterization = 'theta'; lrt = lavTestLRT(restricted, free) (method satorra.2000)")),
  models = list(hs = m_hs, hs_sem = m_hs_sem),
  hs = take(f_hs, "cfa(m_hs, hs, ordered = names(hs), estimator = 'WLSMV', parameterization = 'theta')"),
  hs_sem = take(f_hs_sem, "sem(m_hs_sem, hs, ordered = names(hs), estimator = 'WLSMV', parameterization = 'theta')"),
  hs_delta_fit = as.list(fitMeasures(f_hs_delta, fm_names)),
  mg_scalar_delta_fit = as.list(fitMeasures(f_scalar_delta, fm_names)),
  mg_lrt = mg_lrt
)
out <- c(out, mg)
write_json(out, file.path(out_dir, "sem_wlsmv_theta_fits.json"), digits = NA, auto_unbox = TRUE, pretty = FALSE,
           na = "null")
