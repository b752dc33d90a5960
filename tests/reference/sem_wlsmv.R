# Reference values for tests/test_sem_wlsmv.py (WLSMV for ordered-categorical indicators in efficacy.sem,
# categorical omega in efficacy.reliability) against lavaan 0.6.14 and semTools 0.5.6.
# Run from the repository root:  Rscript tests/reference/sem_wlsmv.R
# Reads  tests/reference/categorical_hs_cut.csv  (HolzingerSwineford1939 x1..x9 cut into 3-5 categories,
#                                                  written by categorical.R; rows in lavaan's order)
#        tests/reference/categorical_bfi.csv     (psychTools::bfi A1-A5, C1-C5, 1000 rows, with NA)
#        tests/reference/sem_hs1939.csv          (for the school column of the multi-group fits)
# Writes tests/reference/sem_wlsmv_fits.json
suppressPackageStartupMessages({library(lavaan); library(semTools); library(jsonlite)})
out_dir <- "tests/reference"
hs <- read.csv(file.path(out_dir, "categorical_hs_cut.csv"))[, paste0("x", 1:9)]
hs_school <- read.csv(file.path(out_dir, "sem_hs1939.csv"))$school
bfi <- read.csv(file.path(out_dir, "categorical_bfi.csv"))
versions <- list(R = R.version.string, lavaan = as.character(packageVersion("lavaan")),
                 semTools = as.character(packageVersion("semTools")))

fm_names <- c("npar", "fmin", "chisq", "df", "pvalue", "chisq.scaled", "df.scaled", "pvalue.scaled",
              "chisq.scaling.factor", "baseline.chisq", "baseline.df", "baseline.pvalue",
              "baseline.chisq.scaled", "baseline.df.scaled", "baseline.pvalue.scaled",
              "baseline.chisq.scaling.factor", "cfi", "tli", "cfi.scaled", "tli.scaled",
              "cfi.robust", "tli.robust", "rmsea", "rmsea.ci.lower", "rmsea.ci.upper",
              "rmsea.scaled", "rmsea.ci.lower.scaled", "rmsea.ci.upper.scaled",
              "rmsea.robust", "rmsea.ci.lower.robust", "rmsea.ci.upper.robust",
              "srmr", "srmr_bentler", "wrmr", "ntotal")

take <- function(fit, call, omega = TRUE) {
  t0 <- proc.time()[["elapsed"]]
  fm <- as.list(fitMeasures(fit, fm_names))
  pe <- parameterEstimates(fit)
  ss <- standardizedSolution(fit)
  if (is.null(pe$group)) pe$group <- 1L
  if (is.null(ss$group)) ss$group <- 1L
  tst <- lavInspect(fit, "test")
  ssh <- tst[["scaled.shifted"]]
  out <- list(
    call = call,
    options = lavInspect(fit, "options")[c("estimator", "missing", "se", "test", "information",
                                             "parameterization")],
    nobs = lavInspect(fit, "nobs"),
    converged = lavInspect(fit, "converged"),
    fit = fm,
    test = list(stat = ssh$stat, df = ssh$df, scaling_factor = ssh$scaling.factor,
                shift_parameter = ssh$shift.parameter, trace_ugamma = ssh$trace.UGamma,
                trace_ugamma2 = ssh$trace.UGamma2, standard = tst[["standard"]]$stat),
    estimates = list(lhs = pe$lhs, op = pe$op, rhs = pe$rhs, group = pe$group, est = pe$est, se = pe$se),
    std = list(lhs = ss$lhs, op = ss$op, rhs = ss$rhs, group = ss$group, est_std = ss$est.std)
  )
  if (omega) {
    # semTools 0.5.6: categorical omega (Green & Yang 2009) is compRelSEM's default for ordered indicators
    # (ord.scale = TRUE); later semTools versions call the same computation compRelSEM(fit, ordinal = TRUE)
    out$omega <- as.list(compRelSEM(fit, ord.scale = TRUE))
    out$omega_call <- "semTools::compRelSEM(fit, ord.scale = TRUE)  # obs.var = TRUE, tau.eq = FALSE"
  }
  out
}

m_hs <- "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
m_hs_sem <- paste0(m_hs, "\nspeed ~ visual + textual\nx2 ~~ x3")
m_bfi <- "agree =~ A1 + A2 + A3 + A4 + A5\nconsc =~ C1 + C2 + C3 + C4 + C5"
m_c1 <- "agree =~ A2 + A3 + A4 + A5"  # the positively keyed agreeableness items

t0 <- proc.time()[["elapsed"]]
f_hs <- cfa(m_hs, hs, ordered = names(hs), estimator = "WLSMV")
secs_hs <- proc.time()[["elapsed"]] - t0
f_hs_sem <- sem(m_hs_sem, hs, ordered = names(hs), estimator = "WLSMV")
f_bfi <- cfa(m_bfi, bfi, ordered = names(bfi), estimator = "WLSMV")
f_bfi_pw <- cfa(m_bfi, bfi, ordered = names(bfi), estimator = "WLSMV", missing = "pairwise")
f_c1 <- cfa(m_c1, bfi, ordered = paste0("A", 2:5), estimator = "WLSMV")

# ---- multi-group: ordinal invariance by school, Wu & Estabrook (2016) identification via measEq.syntax ----------
# ID.fac = "std.lv" (as the issue and semTools recommend for categorical indicators); efficacy uses marker
# variables (auto = "cfa"), an equivalent identification: the same fit, thresholds, scaling factors, intercepts and
# standardised solution. parameterization = "delta", lavaan's default for WLSMV.
hs_g <- hs
hs_g$school <- hs_school
meq <- function(eq, partial = NULL) {
  s <- measEq.syntax(configural.model = m_hs, data = hs_g, ordered = paste0("x", 1:9), parameterization = "delta",
                     ID.fac = "std.lv", ID.cat = "Wu.Estabrook.2016", group = "school", group.equal = eq,
                     group.partial = partial)
  cfa(as.character(s), data = hs_g, group = "school", ordered = paste0("x", 1:9), estimator = "WLSMV",
      parameterization = "delta")
}
meq_call <- function(eq, partial = "NULL") {
  paste0("cfa(as.character(measEq.syntax(m_hs, hs_g, ordered = paste0('x', 1:9), parameterization = 'delta', ",
         "ID.fac = 'std.lv', ID.cat = 'Wu.Estabrook.2016', group = 'school', group.equal = ", deparse(eq),
         ", group.partial = ", partial, ")), hs_g, group = 'school', ordered = paste0('x', 1:9), estimator = 'WLSMV')")
}
mg_steps <- list(mg_configural = "", mg_loadings = "loadings", mg_thresholds = "thresholds",
                 mg_metric = c("thresholds", "loadings"), mg_scalar = c("thresholds", "loadings", "intercepts"))
mg <- list()
for (k in names(mg_steps)) mg[[k]] <- take(meq(mg_steps[[k]]), meq_call(mg_steps[[k]]), omega = FALSE)
mg$mg_scalar_partial <- take(meq(c("thresholds", "loadings", "intercepts"), partial = "x3 ~ 1"),
                             meq_call(c("thresholds", "loadings", "intercepts"), "'x3 ~ 1'"), omega = FALSE)
f <- cfa(m_hs, hs_g, group = "school", ordered = paste0("x", 1:9), estimator = "WLSMV")
mg$mg_lavaan_default <- take(f, "cfa(m_hs, hs_g, group = 'school', ordered = paste0('x', 1:9), estimator = 'WLSMV')",
                             omega = FALSE)

out <- list(
  source = list(script = "tests/reference/sem_wlsmv.R", versions = versions,
                data = list(hs = "categorical_hs_cut.csv (HolzingerSwineford1939 x1..x9 cut into 3-5 categories)",
                            bfi = "categorical_bfi.csv (psychTools::bfi A1-A5, C1-C5, 1000 rows, NA kept)"),
                note = paste("WLSMV = DWLS estimates, se = 'robust.sem', test = 'scaled.shifted',",
                             "parameterization = 'delta'; missing = 'listwise' unless stated")),
  models = list(hs = m_hs, hs_sem = m_hs_sem, bfi = m_bfi, c1 = m_c1),
  hs = c(take(f_hs, "cfa(m_hs, hs, ordered = names(hs), estimator = 'WLSMV')"), list(seconds = secs_hs)),
  hs_sem = take(f_hs_sem, "sem(m_hs_sem, hs, ordered = names(hs), estimator = 'WLSMV')", omega = FALSE),
  bfi = take(f_bfi, "cfa(m_bfi, bfi, ordered = names(bfi), estimator = 'WLSMV')"),
  bfi_pairwise = take(f_bfi_pw, "cfa(m_bfi, bfi, ordered = names(bfi), estimator = 'WLSMV', missing = 'pairwise')",
                      omega = FALSE),
  c1 = take(f_c1, "cfa(m_c1, bfi, ordered = paste0('A', 2:5), estimator = 'WLSMV')")
)
out <- c(out, mg)
write_json(out, file.path(out_dir, "sem_wlsmv_fits.json"), digits = NA, auto_unbox = TRUE, pretty = FALSE,
           na = "null")
