# Reference values for efficacy.mediation.sensitivity (tests/test_references_sensitivity.py, issue #24):
# R's mediation::medsens for linear mediator and outcome models, and its published output.
#
# 1. Published: Imai, Keele, Tingley & Yamamoto (2010), "Causal mediation analysis using R", in H. D. Vinod
#    (Ed.), Advances in Social Science Research Using R (pp. 129-154), Springer, section 4.2 "Sensitivity
#    Analysis" (shipped with the mediation package as the vignette "mediation-old"): JOBS II, linear
#    mediator and outcome models, medsens(rho.by = 0.05). Transcribed below (4 decimals as printed).
#    The JSS article (Tingley, Yamamoto, Hirose, Keele & Imai 2014, J. Stat. Softw. 59(5), section 3.4)
#    illustrates medsens on the framing data with a *probit* outcome (rho at ACME = 0: 0.3; R2*M R2*Y
#    0.09; R2~M R2~Y 0.0493): that model combination is outside efficacy's sensitivity() (linear outcome
#    only), so it is recorded for completeness and not tested.
# 2. Run: mediation::medsens itself (mediation 4.5.1) on the same JOBS II models and on the framing data
#    with linear mediator and linear (probability) outcome models, full precision, full rho grid.
#    mediation is not on this machine's CRAN mirror; it was installed from the CRAN source of 4.5.1
#    (github.com/cran/mediation, commit 7c69452 "version 4.5.1") into a private library:
#       R CMD INSTALL -l /tmp/rlib <mediation source>;  MEDIATION_LIB=/tmp/rlib Rscript tests/reference/sensitivity_medsens.R
# Run from the repository root. Writes tests/reference/sensitivity_medsens.json.
lib <- Sys.getenv("MEDIATION_LIB", "")
suppressPackageStartupMessages({
  if (nzchar(lib)) library(mediation, lib.loc = lib) else library(mediation)
  library(jsonlite)
})
set.seed(20261212)

## our copies of the data are the package's data sets
data("jobs", package = "mediation")
jobs_csv <- read.csv(file.path("data", "raw", "jobs_ii", "data.csv"))
for (v in c("treat", "econ_hard", "depress1", "sex", "age", "job_seek", "depress2"))
  stopifnot(max(abs(jobs[[v]] - jobs_csv[[v]])) < 1e-6)
for (v in c("occp", "marital", "nonwhite", "educ", "income"))
  stopifnot(all(as.character(jobs[[v]]) == jobs_csv[[v]]))
data("framing", package = "mediation")
framing_csv <- read.csv(file.path("tests", "reference", "causal_framing.csv"))
for (v in c("treat", "emo", "age", "income", "cong_mesg")) stopifnot(all(framing[[v]] == framing_csv[[v]]))
for (v in c("educ", "gender")) stopifnot(all(as.character(framing[[v]]) == framing_csv[[v]]))

run <- function(model.m, model.y, treat, mediator, call) {
  med <- mediate(model.m, model.y, treat = treat, mediator = mediator, sims = 100)
  s <- medsens(med, rho.by = 0.05, effect.type = "indirect")
  list(call = call, n = nobs(model.y), rho = s$rho, acme = as.numeric(s$d0), ci_low = as.numeric(s$lower.d0), ci_high = as.numeric(s$upper.d0),
       rsq_prod_residual = s$R2star.prod, rsq_prod_total = s$R2tilde.prod,
       r_square_m = s$r.square.m, r_square_y = s$r.square.y,
       rho_at_zero_grid = s$err.cr.d, rsq_prod_residual_at_zero = s$R2star.d.thresh,
       rsq_prod_total_at_zero = s$R2tilde.d.thresh)
}
jm <- lm(job_seek ~ treat + depress1 + econ_hard + sex + age + occp + marital + nonwhite + educ + income,
         data = jobs)
jy <- lm(depress2 ~ treat + job_seek + depress1 + econ_hard + sex + age + occp + marital + nonwhite + educ +
           income, data = jobs)
fm <- lm(emo ~ treat + age + educ + gender + income, data = framing)
fy <- lm(cong_mesg ~ emo + treat + age + educ + gender + income, data = framing)
out <- list(
  source = list(
    script = "tests/reference/sensitivity_medsens.R",
    mediation = as.character(packageVersion("mediation")), R = R.version.string,
    note = paste("medsens for lm/lm: ACME(rho) by iterative FGLS for each rho on seq(-0.95, 0.95, 0.05);",
                 "rho_at_zero_grid is medsens' err.cr.d, the grid value where |ACME| is smallest (not the",
                 "exact root); R2 products: rho^2 and rho^2 (1 - R2_M)(1 - R2_Y). ci_low/ci_high are medsens'",
                 "own (normal-theory) bands, not comparable to efficacy's bootstrap band.")),
  published_jobs = list(
    source = paste("Imai, Keele, Tingley & Yamamoto (2010), Causal mediation analysis using R, in Vinod (Ed.),",
                   "Advances in Social Science Research Using R, Springer, pp. 129-154, section 4.2, output of",
                   "summary(sens.cont); = mediation vignette 'mediation-old'"),
    call = paste("model.m <- lm(job_seek ~ treat + depress1 + econ_hard + sex + age + occp + marital + nonwhite",
                 "+ educ + income, data = jobs); model.y <- lm(depress2 ~ treat + job_seek + <same covariates>,",
                 "data = jobs); sens.cont <- medsens(mediate(model.m, model.y, sims = 1000, treat = 'treat',",
                 "mediator = 'job_seek'), rho.by = 0.05)"),
    rho = c(-0.30, -0.25, -0.20, -0.15),
    acme = c(0.0064, 0.0028, -0.0007, -0.0040),
    ci_low = c(-0.0025, -0.0026, -0.0049, -0.0105),
    ci_high = c(0.0153, 0.0082, 0.0036, 0.0025),
    rsq_prod_residual = c(0.0900, 0.0625, 0.0400, 0.0225),
    rsq_prod_total = c(0.0588, 0.0408, 0.0261, 0.0147),
    rho_at_zero = -0.2, rsq_prod_residual_at_zero = 0.04, rsq_prod_total_at_zero = 0.0261,
    text_note = paste("The chapter's text says the ACME is exactly zero at rho = -0.19, but its own table has",
                      "ACME(-0.25) = 0.0028 > 0 > ACME(-0.20) = -0.0007, so the root lies in (-0.25, -0.20);",
                      "linear interpolation of the printed values gives -0.210. The summary's -0.2 is the grid",
                      "point with the smallest |ACME|.")),
  published_framing_probit = list(
    source = "Tingley, Yamamoto, Hirose, Keele & Imai (2014), J. Stat. Softw. 59(5), section 3.4, summary(sens.out)",
    call = paste("med.fit <- lm(emo ~ treat + age + educ + gender + income, data = framing); out.fit <-",
                 "glm(cong_mesg ~ emo + treat + age + educ + gender + income, family = binomial('probit'));",
                 "medsens(mediate(med.fit, out.fit, treat = 'treat', mediator = 'emo', robustSE = TRUE,",
                 "sims = 100), rho.by = 0.1, effect.type = 'indirect', sims = 100)"),
    rho_at_zero = 0.3, rsq_prod_residual_at_zero = 0.09, rsq_prod_total_at_zero = 0.0493,
    note = "probit outcome: not supported by efficacy.mediation.sensitivity (linear outcome); not tested"),
  jobs = run(jm, jy, "treat", "job_seek",
             "medsens(mediate(lm(job_seek ~ treat + depress1 + econ_hard + sex + age + occp + marital + nonwhite + educ + income), lm(depress2 ~ treat + job_seek + <same>), treat = 'treat', mediator = 'job_seek', sims = 100), rho.by = 0.05)"),
  framing_linear = run(fm, fy, "treat", "emo",
                       "medsens(mediate(lm(emo ~ treat + age + educ + gender + income, framing), lm(cong_mesg ~ emo + treat + age + educ + gender + income, framing), treat = 'treat', mediator = 'emo', sims = 100), rho.by = 0.05)")
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           file.path("tests", "reference", "sensitivity_medsens.json"))
