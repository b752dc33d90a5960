# Reference values for tests/test_mediation.py (efficacy.mediation).
# Run from the repository root:  Rscript tests/reference/mediation.R
# Writes tests/reference/mediation_*.json.  Needs lavaan, psychTools, jsonlite.
suppressPackageStartupMessages({
  library(lavaan); library(psychTools); library(jsonlite)
})
set.seed(20261128)
versions <- list(R = R.version.string,
                 lavaan = as.character(packageVersion("lavaan")),
                 psychTools = as.character(packageVersion("psychTools")),
                 jsonlite = as.character(packageVersion("jsonlite")))
out <- function(x, file) {
  x$versions <- versions
  writeLines(toJSON(x, auto_unbox = TRUE, digits = NA, pretty = TRUE),
             file.path("tests", "reference", file))
}
pe_list <- function(fit, ...) {
  pe <- parameterEstimates(fit, ...)
  pe <- pe[pe$op %in% c("~", ":=", "~~"), ]
  lapply(split(pe, seq_len(nrow(pe))), function(r) as.list(r))
}
lm_tab <- function(fit) {
  s <- summary(fit)$coefficients
  list(term = rownames(s), est = unname(s[, 1]), se = unname(s[, 2]))
}

## 1. JOBS II: treat -> job_seek -> depress2, covariates econ_hard, sex, age ----------
jobs <- read.csv("/work/shared/datasets/jobs_ii.csv")
m_jobs <- '
  job_seek ~ a*treat + econ_hard + sex + age
  depress2 ~ b*job_seek + cp*treat + econ_hard + sex + age
  ind := a*b
  total := cp + a*b
  pm := a*b / (cp + a*b)
'
fit <- sem(m_jobs, data = jobs, fixed.x = TRUE, meanstructure = TRUE)
lm_m <- lm(job_seek ~ treat + econ_hard + sex + age, data = jobs)
lm_y <- lm(depress2 ~ job_seek + treat + econ_hard + sex + age, data = jobs)
lm_c <- lm(depress2 ~ treat + econ_hard + sex + age, data = jobs)
fitb <- sem(m_jobs, data = jobs, fixed.x = TRUE, meanstructure = TRUE,
            se = "bootstrap", bootstrap = 2000)
pe_b <- parameterEstimates(fitb, boot.ci.type = "perc")
pe_bca <- parameterEstimates(fitb, boot.ci.type = "bca.simple")
ind_row <- which(pe_b$label == "ind")
## Sensitivity: FORMULA CROSS-CHECK ONLY, not an outside reference. This is the closed form of Imai, Keele &
## Yamamoto (2010, Theorem 2) typed into R from lm() fits, i.e. the same formula efficacy implements. The
## outside references for efficacy.mediation.sensitivity are mediation::medsens and its published output:
## tests/reference/sensitivity_medsens.R -> sensitivity_medsens.json (tests/test_references_sensitivity.py).
e1 <- resid(lm_c); e2 <- resid(lm_m); e3 <- resid(lm_y)
rho_tilde <- cor(e1, e2)
s1 <- sqrt(mean(e1^2)); s2 <- sqrt(mean(e2^2))
beta2 <- coef(lm_m)[["treat"]]
rho <- seq(-0.9, 0.9, by = 0.1)
acme_rho <- beta2 * s1 / s2 * (rho_tilde - rho * sqrt((1 - rho_tilde^2) / (1 - rho^2)))
r2m <- summary(lm_m)$r.squared; r2y <- summary(lm_y)$r.squared
out(list(
  source = "lavaan::sem(fixed.x=TRUE, meanstructure=TRUE, estimator='ML') and lm() on JOBS II (mediation::jobs)",
  model = m_jobs, n = nrow(jobs),
  lavaan_ml = pe_list(fit),
  lm_mediator = lm_tab(lm_m), lm_outcome = lm_tab(lm_y), lm_total = lm_tab(lm_c),
  boot = list(call = "sem(..., se='bootstrap', bootstrap=2000); parameterEstimates(boot.ci.type='perc'/'bca.simple')",
              R = 2000, ind_se = pe_b$se[ind_row],
              ind_perc = c(pe_b$ci.lower[ind_row], pe_b$ci.upper[ind_row]),
              ind_bca = c(pe_bca$ci.lower[ind_row], pe_bca$ci.upper[ind_row])),
  sensitivity = list(method = "closed form, Imai, Keele & Yamamoto (2010, Stat. Sci.) Theorem 2; sigma = ML (RSS/n)",
                     rho_tilde = rho_tilde, rho = rho, acme = acme_rho,
                     r2_mediator = r2m, r2_outcome = r2y,
                     rsq_prod_residual = rho_tilde^2,
                     rsq_prod_total = (1 - r2m) * (1 - r2y) * rho_tilde^2)
), "mediation_jobs.json")

## 2. Tal-Or et al. (2010), PROCESS model 4 (Hayes 2018, ch. 3) and parallel mediators (ch. 5) ---------
data("Tal.Or", package = "psych"); Tal_Or <- Tal.Or  # psych::Tal.Or (= Tal_Or; not in psychTools)
to <- data.frame(cond = as.numeric(Tal_Or$cond), pmi = as.numeric(Tal_Or$pmi),
                 import = as.numeric(Tal_Or$import), reaction = as.numeric(Tal_Or$reaction),
                 gender = as.numeric(Tal_Or$gender), age = as.numeric(Tal_Or$age))
write.csv(to, file.path("tests", "reference", "mediation_talor_data.csv"), row.names = FALSE)
m4 <- '
  pmi ~ a*cond
  reaction ~ b*pmi + cp*cond
  ind := a*b
  total := cp + a*b
'
f4 <- sem(m4, data = to, fixed.x = TRUE, meanstructure = TRUE)
m_par <- '
  pmi ~ a1*cond
  import ~ a2*cond
  reaction ~ b1*pmi + b2*import + cp*cond
  pmi ~~ import
  ind1 := a1*b1
  ind2 := a2*b2
  ind := a1*b1 + a2*b2
  contrast := a1*b1 - a2*b2
'
fpar <- sem(m_par, data = to, fixed.x = TRUE, meanstructure = TRUE)
## PROCESS model 7 (W = age moderates a) and 14 (W = age moderates b), point estimates via lm,
## delta-method SEs via lavaan with product terms (fixed.x).
to$cond_age <- to$cond * to$age; to$pmi_age <- to$pmi * to$age
m7 <- '
  pmi ~ a1*cond + a2*age + a3*cond_age
  reaction ~ b*pmi + cp*cond
  index := a3*b
  ind_30 := (a1 + a3*30)*b
'
f7 <- sem(m7, data = to, fixed.x = TRUE, meanstructure = TRUE)
m14 <- '
  pmi ~ a*cond
  reaction ~ b1*pmi + b2*age + b3*pmi_age + cp*cond
  index := a*b3
  ind_30 := a*(b1 + b3*30)
'
f14 <- sem(m14, data = to, fixed.x = TRUE, meanstructure = TRUE)
out(list(
  source = "psych::Tal.Or (Tal-Or, Cohen, Tsfati & Gunther 2010; written to mediation_talor_data.csv); lm() and lavaan::sem(fixed.x=TRUE); PROCESS model 4 published values Hayes (2018, Introduction to Mediation, Moderation, and Conditional Process Analysis, 2nd ed., ch. 3, Fig. 3.3) a=.4765 b=.5064 c=.4957 c'=.2544 ab=.2413",
  script = "tests/reference/mediation.R, section 2 (runs alone: the header plus section 2)",
  published_process_model4 = list(a = 0.4765, b = 0.5064, c = 0.4957, c_prime = 0.2544, ab = 0.2413),
  n = nrow(to),
  lm_mediator = lm_tab(lm(pmi ~ cond, data = to)),
  lm_outcome = lm_tab(lm(reaction ~ pmi + cond, data = to)),
  lm_total = lm_tab(lm(reaction ~ cond, data = to)),
  lavaan_model4 = pe_list(f4), model4 = m4,
  lavaan_parallel = pe_list(fpar), model_parallel = m_par,
  quantiles_age = unname(quantile(to$age, c(0.16, 0.5, 0.84), type = 7)),
  lavaan_model7 = pe_list(f7), model7 = m7,
  lavaan_model14 = pe_list(f14), model14 = m14
), "mediation_talor.json")
cat("done\n")
