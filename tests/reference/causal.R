# Reference fits for tests/test_causal.py (efficacy.mediation.causal.causal_mediation).
# R's `mediation` package is not installable here, so this script records the two model fits that
# mediation::mediate() starts from -- lm() for the mediator and lm()/glm(binomial(probit|logit)) for the
# outcome -- on the framing data (Brader, Valentino & Suhay 2008; shipped with R mediation and with
# statsmodels, copied to tests/reference/causal_framing.csv). The quasi-Bayesian draws of mediate() are
# multivariate normal around coef() with covariance vcov() and a residual SD summary(lm)$sigma, so these
# are the exact inputs our simulation must reproduce. glm() runs with epsilon = 1e-14 so that its
# convergence error (default 1e-8 on the deviance, ~1e-5 relative in coefficients) does not mask ours.
# Run from the repository root:  Rscript tests/reference/causal.R
library(jsonlite)
framing <- read.csv("tests/reference/causal_framing.csv")
covs <- "age + educ + gender + income"
med.fit <- lm(as.formula(paste("emo ~ treat +", covs)), data = framing)
models <- list(
  probit = glm(as.formula(paste("cong_mesg ~ emo + treat +", covs)), data = framing,
               family = binomial("probit"), control = glm.control(epsilon = 1e-14, maxit = 100)),
  logit = glm(as.formula(paste("cong_mesg ~ emo + treat +", covs)), data = framing,
              family = binomial("logit"), control = glm.control(epsilon = 1e-14, maxit = 100)),
  probit_interaction = glm(as.formula(paste("cong_mesg ~ emo * treat +", covs)), data = framing,
                           family = binomial("probit"), control = glm.control(epsilon = 1e-14, maxit = 100)),
  linear = lm(as.formula(paste("immigr ~ emo + treat +", covs)), data = framing),
  linear_interaction = lm(as.formula(paste("immigr ~ emo * treat +", covs)), data = framing)
)
# linear-linear with a treatment x mediator interaction g (outcome = ... + b emo + c' treat + g emo:treat):
# ACME(t) = a (b + g t) exactly; ADE(t) = c' + g * mean(M(t)), M(t) the mediator model's prediction at
# treat = t (mediate() adds one simulated mediator error per unit, whose mean moves ADE by g * sigma / sqrt(n)
# at most a few times; ADE(1) - ADE(0) = g * a exactly, as that error is shared)
li <- models$linear_interaction
m_at <- function(t) mean(predict(med.fit, newdata = transform(framing, treat = t)))
li_eff <- list(a = unname(coef(med.fit)["treat"]), b = unname(coef(li)["emo"]), g = unname(coef(li)["emo:treat"]),
               c_prime = unname(coef(li)["treat"]), mean_m0 = m_at(0), mean_m1 = m_at(1))
li_eff$acme_control <- li_eff$a * li_eff$b
li_eff$acme_treated <- li_eff$a * (li_eff$b + li_eff$g)
li_eff$ade_control <- li_eff$c_prime + li_eff$g * li_eff$mean_m0
li_eff$ade_treated <- li_eff$c_prime + li_eff$g * li_eff$mean_m1
fit_list <- function(f) list(coef = as.list(coef(f)), vcov = unname(vcov(f)), names = names(coef(f)))
out <- list(
  source = list(
    call_mediator = "lm(emo ~ treat + age + educ + gender + income, data = framing)",
    call_outcome = list(
      probit = "glm(cong_mesg ~ emo + treat + age + educ + gender + income, family = binomial('probit'))",
      logit = "glm(cong_mesg ~ emo + treat + age + educ + gender + income, family = binomial('logit'))",
      probit_interaction = "glm(cong_mesg ~ emo * treat + age + educ + gender + income, family = binomial('probit'))",
      linear = "lm(immigr ~ emo + treat + age + educ + gender + income)",
      linear_interaction = "lm(immigr ~ emo * treat + age + educ + gender + income)"),
    data = "tests/reference/causal_framing.csv (mediation::framing as shipped in statsmodels)",
    R = R.version.string, jsonlite = as.character(packageVersion("jsonlite"))),
  n = nrow(framing),
  mediator = c(fit_list(med.fit), list(sigma = summary(med.fit)$sigma)),
  outcome = lapply(models, fit_list),
  # linear-linear, no interaction: ACME = a * b and ADE = c' exactly (Imai, Keele & Tingley 2010, sec. 4)
  linear_product = list(a = unname(coef(med.fit)["treat"]), b = unname(coef(models$linear)["emo"]),
                        c_prime = unname(coef(models$linear)["treat"])),
  linear_interaction_effects = li_eff
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "tests/reference/causal_framing_fits.json")
