# Reference for the Monte Carlo CI of efficacy.mediation.mediate(ci = "montecarlo") (issue #24):
# semTools::monteCarloCI (Preacher & Selig 2012) on the lavaan fit of PROCESS model 4 for Tal-Or et al.
# (2010) (tests/reference/mediation_talor_data.csv = psych::Tal.Or), 1e6 draws.
# Run from the repository root:  Rscript tests/reference/mediation_montecarlo.R
# Writes tests/reference/mediation_montecarlo_talor.json
suppressPackageStartupMessages({library(lavaan); library(semTools); library(jsonlite)})
set.seed(20240524)
to <- read.csv("tests/reference/mediation_talor_data.csv")
model <- '
  pmi ~ a*cond
  reaction ~ b*pmi + cp*cond
  ind := a*b
  total := cp + a*b
'
fit <- sem(model, data = to, fixed.x = TRUE, meanstructure = TRUE)
n_rep <- 1e6
mc <- monteCarloCI(fit, nRep = n_rep, level = 0.95, append.samples = TRUE)
draws <- mc$Samples; tab <- mc$Results
res <- list()
for (p in c("ind", "total")) {
  x <- draws[, p]
  q <- quantile(x, c(0.025, 0.975))
  d <- density(x, n = 4096)
  f <- approx(d$x, d$y, xout = q)$y                   # density at the two quantiles (for MC error)
  res[[p]] <- list(estimate = tab[p, "est"], ci_low = tab[p, "ci.lower"], ci_high = tab[p, "ci.upper"],
                   sd_draws = sd(x), density_at_ci = unname(f))
}
out <- list(
  source = list(
    call = "semTools::monteCarloCI(sem(model, data = Tal_Or, fixed.x = TRUE, meanstructure = TRUE), nRep = 1e6, level = 0.95, append.samples = TRUE)",
    model = model, n_rep = n_rep, seed = 20240524,
    script = "tests/reference/mediation_montecarlo.R", data = "tests/reference/mediation_talor_data.csv (psych::Tal.Or)",
    note = "density_at_ci: kernel density of the draws at the 2.5% and 97.5% quantiles, for the quantile's Monte Carlo SE sqrt(p(1-p)) / (f sqrt(n))",
    R = R.version.string, lavaan = as.character(packageVersion("lavaan")),
    semTools = as.character(packageVersion("semTools"))),
  effects = res)
write_json(out, "tests/reference/mediation_montecarlo_talor.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
