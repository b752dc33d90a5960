# Reference values for efficacy.mediation.sensitivity with a probit outcome or a probit mediator
# (tests/test_sensitivity_binary.py, issue #19): R's mediation::medsens 4.5.1 (Imai, Keele & Yamamoto 2010,
# Stat. Sci. 25(1), section 4; Imai, Keele, Tingley & Yamamoto 2010, "Causal mediation analysis using R").
# mediation is not on this machine's CRAN mirror; it was installed from the CRAN source of 4.5.1
# (github.com/cran/mediation, commit 7c69452 "version 4.5.1") into a private library:
#    R CMD INSTALL -l /tmp/rlib <mediation source>;  MEDIATION_LIB=/tmp/rlib Rscript tests/reference/sensitivity_binary.R
#
#   jobs_bo:      JOBS II, linear mediator job_seek, probit outcome work (= work1 == "psyemp"), the vignette's
#                 covariates; medsens(rho.by = 0.05, sims = 4000)
#   framing_bo:   framing (Brader et al. 2008; tests/reference/causal_framing.csv), the JSS article's model
#                 (Tingley et al. 2014, section 3.4: lm(emo ~ ...), glm(cong_mesg ~ ..., probit)),
#                 medsens(rho.by = 0.1, sims = 4000) (the article used robustSE = TRUE and sims = 100)
#   jobs_bm:      JOBS II, probit mediator job_dich, linear outcome depress2 (the vignette's binary-mediator
#                 example); medsens(rho.by = 0.1, sims = 400) (iterated FGLS for every draw and rho: slow)
#   *_corrected:  for the probit outcome, medsens computes the error correlation at which the ACME is zero
#                 as rho12 = sigma2 g / (1 + sqrt(sigma2^2 g^2)) (g = the outcome probit's mediator
#                 coefficient); the model (IKY 2010, section 4) gives g = (gamma + rho / sigma2) / sqrt(1 - rho^2),
#                 hence at gamma = 0 rho12 = sigma2 g / sqrt(1 + sigma2^2 g^2), the form that the rest of
#                 medsens' computation (its gamma(rho) and reduced-form coefficients) assumes. This block is
#                 medsens' "bo" algorithm written out in base R with that corrected formula (everything else
#                 as medsens: quasi-Bayesian draws of both fits and of sigma2, means over draws).
# Run from the repository root (about 5 minutes). Writes tests/reference/sensitivity_binary.json.
lib <- Sys.getenv("MEDIATION_LIB", "")
suppressPackageStartupMessages({
  if (nzchar(lib)) library(mediation, lib.loc = lib) else library(mediation)
  library(jsonlite); library(MASS)
})
set.seed(20261207)
jobs <- read.csv(file.path("data", "raw", "jobs_ii", "data.csv"))
jobs$work <- as.numeric(jobs$work1 == "psyemp")
framing <- read.csv(file.path("tests", "reference", "causal_framing.csv"))
covs <- "depress1 + econ_hard + sex + age + occp + marital + nonwhite + educ + income"
ctrl <- glm.control(epsilon = 1e-14, maxit = 100)   # probit fits to full precision (glm's default stops at 1e-8)

grab <- function(s, call) list(
  call = call, sims = s$sims, rho = s$rho, d0 = as.numeric(s$d0), d1 = as.numeric(s$d1),
  lower_d0 = as.numeric(s$lower.d0), upper_d0 = as.numeric(s$upper.d0),
  lower_d1 = as.numeric(s$lower.d1), upper_d1 = as.numeric(s$upper.d1),
  tau = if (is.null(s$tau)) NULL else as.numeric(s$tau),
  r_square_m = as.numeric(s$r.square.m), r_square_y = as.numeric(s$r.square.y),
  rsq_prod_residual = s$R2star.prod, rsq_prod_total = as.numeric(s$R2tilde.prod),
  rho_at_zero_grid = s$err.cr.d, rsq_prod_total_at_zero = as.numeric(s$R2tilde.d.thresh))

# medsens' binary-outcome algorithm with the corrected rho12 (see the header)
bo_corrected <- function(model.m, model.y, treat, mediator, rho, sims) {
  cm <- coef(model.m); Vm <- vcov(model.m); cy <- coef(model.y); Vy <- vcov(model.y)
  Ms <- mvrnorm(sims, cm, Vm); Ys <- mvrnorm(sims, cy, Vy)
  s2 <- summary(model.m)$sigma; df <- model.m$df.residual
  sig <- sqrt(1 / rgamma(sims, shape = df / 2, scale = 1 / ((df / 2) * s2^2)))
  g <- Ys[, mediator]
  r12 <- sig * g / sqrt(1 + sig^2 * g^2)
  YT <- Ys[, colnames(Ys) != mediator] * sqrt(1 - r12^2) + Ms * (r12 / sig)
  X <- model.matrix(model.y)[, colnames(model.matrix(model.y)) != mediator]
  X1 <- X; X1[, treat] <- 1; X0 <- X; X0[, treat] <- 0
  L1 <- X1 %*% t(YT); L0 <- X0 %*% t(YT)                      # n x sims
  b2 <- Ms[, treat]
  d0 <- d1 <- lo0 <- hi0 <- numeric(length(rho))
  for (i in seq_along(rho)) {
    gam <- (-rho[i] + r12 * sqrt((1 - rho[i]^2) / (1 - r12^2))) / sig
    s1 <- sqrt(gam^2 * sig^2 + 2 * gam * rho[i] * sig + 1)
    sh <- rep(gam * b2 / s1, each = nrow(X))
    dd0 <- colMeans(pnorm(L0 + sh) - pnorm(L0)); dd1 <- colMeans(pnorm(L1) - pnorm(L1 - sh))
    d0[i] <- mean(dd0); d1[i] <- mean(dd1)
    lo0[i] <- quantile(dd0, 0.025); hi0[i] <- quantile(dd0, 0.975)
  }
  r12_hat <- s2 * cy[mediator] / sqrt(1 + s2^2 * cy[mediator]^2)
  list(rho = rho, d0 = d0, d1 = d1, lower_d0 = lo0, upper_d0 = hi0, sims = sims, rho12_point = unname(r12_hat))
}

out <- list(source = list(script = "tests/reference/sensitivity_binary.R", mediation = as.character(packageVersion("mediation", lib.loc = if (nzchar(lib)) lib else NULL)),
                          R = R.version.string))

## JOBS II, probit outcome
jm <- lm(as.formula(paste("job_seek ~ treat +", covs)), data = jobs)
jy <- glm(as.formula(paste("work ~ treat + job_seek +", covs)), data = jobs, family = binomial("probit"), control = ctrl)
med <- mediate(jm, jy, treat = "treat", mediator = "job_seek", sims = 50)
t0 <- Sys.time()
out$jobs_bo <- grab(medsens(med, rho.by = 0.05, sims = 4000, effect.type = "indirect"),
                    paste("medsens(mediate(lm(job_seek ~ treat +", covs, "), glm(work ~ treat + job_seek +", covs,
                          ", binomial('probit')), treat = 'treat', mediator = 'job_seek'), rho.by = 0.05, sims = 4000)"))
cat("jobs_bo", format(Sys.time() - t0), "\n")
out$jobs_bo_corrected <- bo_corrected(jm, jy, "treat", "job_seek", out$jobs_bo$rho, 4000)

## framing, probit outcome (JSS article)
fm <- lm(emo ~ treat + age + educ + gender + income, data = framing)
fy <- glm(cong_mesg ~ emo + treat + age + educ + gender + income, data = framing, family = binomial("probit"), control = ctrl)
fmed <- mediate(fm, fy, treat = "treat", mediator = "emo", sims = 50)
out$framing_bo <- grab(medsens(fmed, rho.by = 0.1, sims = 4000, effect.type = "indirect"),
                       "medsens(mediate(lm(emo ~ treat + age + educ + gender + income), glm(cong_mesg ~ emo + treat + age + educ + gender + income, binomial('probit')), treat = 'treat', mediator = 'emo'), rho.by = 0.1, sims = 4000)")
out$framing_bo_corrected <- bo_corrected(fm, fy, "treat", "emo", out$framing_bo$rho, 4000)
out$published_framing_probit <- list(
  source = "Tingley, Yamamoto, Hirose, Keele & Imai (2014), J. Stat. Softw. 59(5), section 3.4, summary(sens.out)",
  call = "medsens(mediate(med.fit, out.fit, treat = 'treat', mediator = 'emo', robustSE = TRUE, sims = 100), rho.by = 0.1, effect.type = 'indirect', sims = 100)",
  rho_at_zero = 0.3, rsq_prod_residual_at_zero = 0.09, rsq_prod_total_at_zero = 0.0493)

## JOBS II, probit mediator
bm <- glm(as.formula(paste("job_dich ~ treat +", covs)), data = jobs, family = binomial("probit"), control = ctrl)
by <- lm(as.formula(paste("depress2 ~ treat + job_dich +", covs)), data = jobs)
bmed <- mediate(bm, by, treat = "treat", mediator = "job_dich", sims = 50)
t0 <- Sys.time()
out$jobs_bm <- grab(medsens(bmed, rho.by = 0.1, sims = 400, effect.type = "indirect"),
                    paste("medsens(mediate(glm(job_dich ~ treat +", covs, ", binomial('probit')), lm(depress2 ~ treat + job_dich +",
                          covs, "), treat = 'treat', mediator = 'job_dich'), rho.by = 0.1, sims = 400)"))
cat("jobs_bm", format(Sys.time() - t0), "\n")
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null"), "tests/reference/sensitivity_binary.json")
