# Reference numbers for tests/test_robustness.py (efficacy.mediation.robustness).
#
# Neither R `sensemakr` nor R `EValue` is installable here, so this script evaluates the published
# closed forms in base R -- written from the papers, not from either package -- on the fits that base R
# `lm()` produces, and writes them to JSON:
#
#   * omitted-variable-bias sensitivity (Cinelli & Hazlett 2020, JRSS-B 82(1), 39-67): partial R2 of
#     the treatment with the outcome (sec. 3), robustness values RV_q and RV_{q,alpha} (sec. 4.1 and
#     their extreme-case branch, sec. 4.1 / appendix), the bias-adjusted estimate, SE and t for a
#     confounder with given partial R2s (sec. 3.2 and 4), and bounds benchmarked on an observed
#     covariate (sec. 6.1, eq. for kD/kY and footnote 10), on the Darfur example of section 5;
#   * E-values (VanderWeele & Ding 2017, Ann Intern Med 167(4), 268-274, Table 2 conversions) for risk,
#     odds and hazard ratios, standardised mean differences and linear-regression coefficients, and the
#     mediational E-values of Smith & VanderWeele (2019, Epidemiology 30(6), 835-837), which apply the
#     same formula to the risk ratio of the natural direct or indirect effect.
#
# The Darfur data (Hazlett 2019, J Conflict Resolution) ship with R sensemakr (GPL-3) and with
# PySensemakr 0.0.8 (MIT; its sensemakr/data/darfur.csv, copied unchanged to tests/reference/darfur.csv).
# The numbers published with sensemakr are in the "published" block: Cinelli & Hazlett (2020, sec. 5)
# and the sensemakr README / its test-02-darfur.R (bounds for 1x, 2x, 3x female).
#
# Run from the repository root:  Rscript tests/reference/robustness.R
library(jsonlite)

# --------------------------------------------------------------------------- closed forms
partial_r2 <- function(t, dof) t^2 / (t^2 + dof)

# RV_q (alpha = NULL) or RV_{q,alpha}; Cinelli & Hazlett (2020) sec. 4.1: with f_q = q |t| / sqrt(dof),
# RV solves RV^2 / (1 - RV) = f^2, i.e. RV = (sqrt(f^4 + 4 f^2) - f^2) / 2; for the significance
# version f = f_q - f*_{alpha, dof-1} with f* = t*_{alpha/2, dof-1} / sqrt(dof - 1), zero when
# f_q <= f*, and (f_q^2 - f*^2) / (1 + f_q^2) when the constraint R2_{D~Z|X} <= 1 would bind
# (f_q > 1 / f*).
rv_solve <- function(f) 0.5 * (sqrt(f^4 + 4 * f^2) - f^2)
robustness_value <- function(t, dof, q = 1, alpha = NULL) {
  fq <- q * abs(t) / sqrt(dof)
  if (is.null(alpha)) return(rv_solve(fq))
  fcrit <- qt(1 - alpha / 2, df = dof - 1) / sqrt(dof - 1)
  if (fq <= fcrit) return(0)
  if (fq * fcrit > 1) return((fq^2 - fcrit^2) / (1 + fq^2))
  rv_solve(fq - fcrit)
}

# bias-adjusted estimate, SE, t and CI (Cinelli & Hazlett 2020, eqs. for |bias| and se(tau_res)):
# |bias| = se * sqrt(dof) * sqrt(R2yz.dx R2dz.x / (1 - R2dz.x));
# se_adj = se * sqrt((1 - R2yz.dx) / (1 - R2dz.x)) * sqrt(dof / (dof - 1)); df of the adjusted
# t and CI = dof - 1 (the confounder uses one more degree of freedom).
adjusted <- function(est, se, dof, r2dz, r2yz, alpha = 0.05, reduce = TRUE) {
  bias <- se * sqrt(dof) * sqrt(r2yz * r2dz / (1 - r2dz))
  adj <- if (reduce) sign(est) * (abs(est) - bias) else sign(est) * (abs(est) + bias)
  se_adj <- se * sqrt((1 - r2yz) / (1 - r2dz)) * sqrt(dof / (dof - 1))
  tcrit <- qt(1 - alpha / 2, df = dof - 1)
  data.frame(r2dz_x = r2dz, r2yz_dx = r2yz, bias = bias, adjusted_estimate = adj, adjusted_se = se_adj,
             adjusted_t = adj / se_adj, adjusted_pvalue = 2 * pt(-abs(adj / se_adj), df = dof - 1),
             adjusted_ci_low = adj - tcrit * se_adj, adjusted_ci_high = adj + tcrit * se_adj)
}

# partial R2 of a group of columns: 1 - RSS(full) / RSS(without the group) (= t^2/(t^2+df) for one
# column, = F k / (F k + df) for k columns)
group_r2 <- function(fit, drop) {
  reduced <- update(fit, as.formula(paste(". ~ . -", paste(drop, collapse = " - "))))
  1 - deviance(fit) / deviance(reduced)
}

# bounds benchmarked on covariate(s) X_j (Cinelli & Hazlett 2020, sec. 6.1 and footnote 10):
# R2dz.x = kd * R2dxj.x / (1 - R2dxj.x);
# R2zxj.xd = kd * R2dxj.x^2 / ((1 - kd R2dxj.x)(1 - R2dxj.x));
# R2yz.dx = ((sqrt(ky) + sqrt(R2zxj.xd)) / sqrt(1 - R2zxj.xd))^2 * R2yxj.dx / (1 - R2yxj.dx), capped at 1
bench_bounds <- function(r2dxj, r2yxj, kd, ky = kd) {
  r2dz <- kd * r2dxj / (1 - r2dxj)
  r2zxj <- kd * r2dxj^2 / ((1 - kd * r2dxj) * (1 - r2dxj))
  r2yz <- ((sqrt(ky) + sqrt(r2zxj)) / sqrt(1 - r2zxj))^2 * r2yxj / (1 - r2yxj)
  data.frame(kd = kd, ky = ky, r2dz_x = r2dz, r2yz_dx = pmin(r2yz, 1), r2yz_dx_uncapped = r2yz)
}

# --------------------------------------------------------------------------- Darfur
darfur <- read.csv("tests/reference/darfur.csv")
covs <- c("age", "farmer_dar", "herder_dar", "pastvoted", "hhsize_darfur", "female", "village")
f_out <- as.formula(paste("peacefactor ~ directlyharmed +", paste(covs, collapse = " + ")))
f_trt <- as.formula(paste("directlyharmed ~", paste(covs, collapse = " + ")))
fit <- lm(f_out, data = darfur)
fit_d <- lm(f_trt, data = darfur)
co <- summary(fit)$coefficients["directlyharmed", ]
est <- unname(co[1]); se <- unname(co[2]); tval <- unname(co[3]); dof <- fit$df.residual

benchmark <- function(cov, kd, ky = kd, alpha = 0.05) {
  r2dxj <- group_r2(fit_d, cov)
  r2yxj <- group_r2(fit, cov)
  b <- bench_bounds(r2dxj, r2yxj, kd, ky)
  a <- adjusted(est, se, dof, b$r2dz_x, b$r2yz_dx, alpha = alpha)
  list(benchmark = cov, r2dxj_x = r2dxj, r2yxj_dx = r2yxj, kd = kd, ky = ky,
       bounds = cbind(b[, c("r2dz_x", "r2yz_dx", "r2yz_dx_uncapped")], a[, -(1:2)]))
}

rv_cases <- list(
  list(q = 1, alpha = 0.05), list(q = 0.5, alpha = 0.1), list(q = 2, alpha = 0.01), list(q = 1, alpha = 0.2)
)
rv_table <- lapply(rv_cases, function(cs) c(cs, list(rv_q = robustness_value(tval, dof, cs$q),
                                                     rv_qa = robustness_value(tval, dof, cs$q, cs$alpha))))

# numeric robustness values: ordinary, extreme-case (f_q > 1/f*) and zero (f_q <= f*) branches
rv_numeric <- lapply(list(c(4.18, 783), c(10, 10), c(25, 30), c(1, 100), c(-3, 50), c(2.5, 5)),
                     function(x) list(t = x[1], dof = x[2], q = 1, alpha = 0.05,
                                      rv_q = robustness_value(x[1], x[2]),
                                      rv_qa = robustness_value(x[1], x[2], 1, 0.05)))

manual <- adjusted(est, se, dof, r2dz = c(0.05, 0.1, 0.2), r2yz = c(0.05, 0.1, 0.3))
manual_increase <- adjusted(est, se, dof, r2dz = 0.1, r2yz = 0.1, reduce = FALSE)

darfur_out <- list(
  call = paste("lm(", deparse(f_out, width.cutoff = 500), ", data = darfur)"),
  n = nrow(darfur), dof = dof, estimate = est, se = se, t = tval,
  ci_low = unname(confint(fit)["directlyharmed", 1]), ci_high = unname(confint(fit)["directlyharmed", 2]),
  partial_r2 = partial_r2(tval, dof), partial_f2 = tval^2 / dof,
  rv = rv_table,
  bounds_female = benchmark("female", kd = 1:3),
  bounds_female_ky = benchmark("female", kd = c(1, 2), ky = c(0.5, 3)),
  bounds_age = benchmark("age", kd = c(0.5, 1, 4), alpha = 0.1),
  bounds_pastvoted = benchmark("pastvoted", kd = 2),
  bounds_village = benchmark("village", kd = 0.1),  # a categorical covariate: group partial R2
  bounds_group = benchmark(c("female", "pastvoted"), kd = c(1, 2)),  # two covariates benchmarked jointly
  manual = manual,
  manual_increase = manual_increase
)

published <- list(
  source = paste("Cinelli & Hazlett (2020), section 5 (Darfur): partial R2 of directlyharmed 2.19%,",
                 "RV(q=1) = 13.9%, RV(q=1, alpha=0.05) = 7.6%; sensemakr README (summary(sensemakr(model,",
                 "treatment = 'directlyharmed', benchmark_covariates = 'female', kd = 1:3))), printed to",
                 "4-5 decimals; the same bounds at full precision in sensemakr tests/testthat/test-02-darfur.R"),
  estimate = 0.09732, se = 0.02326, t = 4.18445, dof = 783,
  partial_r2 = 0.02187, rv_q = 0.13878, rv_qa = 0.07626,
  bounds_female = list(
    bound_label = c("1x female", "2x female", "3x female"),
    r2dz_x = c(0.0092, 0.0183, 0.0275), r2yz_dx = c(0.1246, 0.2493, 0.3741),
    adjusted_estimate = c(0.0752, 0.0529, 0.0304), adjusted_se = c(0.0219, 0.0204, 0.0187),
    adjusted_t = c(3.4389, 2.6002, 1.6281),
    adjusted_ci_low = c(0.0323, 0.0130, -0.0063), adjusted_ci_high = c(0.1182, 0.0929, 0.0670),
    decimals = 4)
)

# --------------------------------------------------------------------------- E-values
g <- function(b) b + sqrt(b * (b - 1))           # E-value of a bias factor b >= 1
ev_rr <- function(rr, true = 1) g(max(rr / true, true / rr))
# E-value of the CI limit closer to the null (1 when the CI contains `true`)
ev_ci <- function(rr, lo, hi, true = 1) {
  if (is.na(lo) && is.na(hi)) return(NA)
  if (rr > true) return(if (lo <= true) 1 else ev_rr(lo, true))
  if (rr < true) return(if (hi >= true) 1 else ev_rr(hi, true))
  1
}
# Table 2 conversions to the risk-ratio scale
to_rr <- function(x, measure, rare = TRUE) {
  switch(measure,
         RR = x,
         OR = if (rare) x else sqrt(x),
         HR = if (rare) x else (1 - 0.5^sqrt(x)) / (1 - 0.5^sqrt(1 / x)),
         SMD = exp(0.91 * x))
}
ev_case <- function(label, measure, est, lo = NA, hi = NA, rare = TRUE, true = NULL, se = NA, sd = NA,
                    delta = 1, effect = "total") {
  rr_true <- if (is.null(true)) 1 else to_rr(true, measure, rare)
  if (measure %in% c("SMD", "OLS")) {
    scale <- if (measure == "OLS") delta / sd else 1
    d <- est * scale
    rr_true <- if (is.null(true)) 1 else exp(0.91 * true * scale)
    rr <- exp(0.91 * d)
    if (!is.na(se)) {                 # VanderWeele & Ding (2017) Table 2: exp(0.91 d -/+ 1.78 se_d)
      rr_lo <- exp(0.91 * d - 1.78 * se * abs(scale)); rr_hi <- exp(0.91 * d + 1.78 * se * abs(scale))
    } else if (!is.na(lo)) {          # a CI of the estimate itself: each limit converted like the estimate
      rr_lo <- exp(0.91 * lo * scale); rr_hi <- exp(0.91 * hi * scale)
      if (rr_lo > rr_hi) { tmp <- rr_lo; rr_lo <- rr_hi; rr_hi <- tmp }
    } else { rr_lo <- NA; rr_hi <- NA }
  } else {
    rr <- to_rr(est, measure, rare)
    rr_lo <- if (is.na(lo)) NA else to_rr(lo, measure, rare)
    rr_hi <- if (is.na(hi)) NA else to_rr(hi, measure, rare)
  }
  list(label = label, measure = measure, effect = effect, estimate = est, ci_low = lo, ci_high = hi,
       rare = rare, true = if (is.null(true)) NA else true, se = se, sd = sd, delta = delta,
       rr = rr, rr_ci_low = rr_lo, rr_ci_high = rr_hi, rr_true = rr_true,
       evalue = ev_rr(rr, rr_true), evalue_ci = ev_ci(rr, rr_lo, rr_hi, rr_true))
}

evalue_cases <- list(
  # VanderWeele & Ding (2017): breastfeeding and infant respiratory death (Victora et al. 1987)
  ev_case("breastfeeding_rr", "RR", 3.9, 1.8, 8.7),
  # EValue::evalues.RR documentation example ('leukemia example in VanderWeele and Ding (2017)')
  ev_case("leukemia_rr", "RR", 0.80, 0.71, 0.91),
  # EValue::threshold documentation: smoking and lung cancer 2x2 table of Hammond & Horn (1958, JAMA)
  ev_case("smoking_rr", "RR", 10.729780, 8.017457, 14.359688),
  ev_case("rr_ci_crosses_null", "RR", 1.3, 0.9, 1.9),
  ev_case("rr_true_2", "RR", 3.9, 1.8, 8.7, true = 2),
  ev_case("rr_true_below", "RR", 1.5, 1.2, 1.9, true = 2.5),
  ev_case("or_rare", "OR", 2.5, 1.5, 4.2, rare = TRUE),
  ev_case("or_common", "OR", 2.5, 1.5, 4.2, rare = FALSE),
  ev_case("or_common_protective", "OR", 0.6, 0.45, 0.8, rare = FALSE),
  # EValue::evalues.HR documentation example: HR = 0.56 (0.46, 0.69), common outcome
  ev_case("hr_common", "HR", 0.56, 0.46, 0.69, rare = FALSE),
  ev_case("hr_rare", "HR", 0.56, 0.46, 0.69, rare = TRUE),
  ev_case("smd_se", "SMD", 0.5, se = 0.1),
  ev_case("smd_negative_se", "SMD", -0.3, se = 0.2),
  ev_case("ols_se", "OLS", 2.0, se = 0.5, sd = 4),
  ev_case("ols_delta", "OLS", 0.8, se = 0.2, sd = 3, delta = 2),
  ev_case("ols_true", "OLS", 2.0, se = 0.5, sd = 4, true = 0.5),
  # mediator-outcome association (b path, continuous outcome): E-value of the coefficient
  ev_case("b_path_ols", "OLS", 0.4, se = 0.1, sd = 1.5, effect = "mediator-outcome"),
  # Smith & VanderWeele (2019): the E-value formula applied to RR of the natural indirect / direct effect
  ev_case("nie_rr", "RR", 1.20, 1.05, 1.38, effect = "indirect"),
  ev_case("nde_rr_crosses", "RR", 0.9, 0.75, 1.1, effect = "direct"),
  # indirect effect a*b on a continuous outcome with a bootstrap CI, standardised by sd(Y)
  ev_case("nie_ols_ci", "OLS", 0.15, 0.05, 0.27, sd = 1.2, effect = "indirect")
)
names(evalue_cases) <- vapply(evalue_cases, function(x) x$label, "")

evalue_published <- list(
  source = paste("VanderWeele TJ, Ding P (2017). Sensitivity analysis in observational research:",
                 "introducing the E-value. Ann Intern Med 167(4):268-274; worked example of breastfeeding",
                 "and infant respiratory death (Victora et al. 1987, Lancet): RR = 3.9 (95% CI 1.8 to 8.7),",
                 "E-value 7.26 for the estimate. The E-value of the lower limit 1.8 is",
                 "1.8 + sqrt(1.8 x 0.8) = 1.8 + 1.2 = 3.00 exactly, which R EValue's own test",
                 "(EValue/tests/testthat/testthat.R, evalues.RR(3.9, 1.8, 8.7)) asserts and its vignette",
                 "('unmeasured-confounding', evalues.OR(3.9, 1.8, 8.7, rare = TRUE)) prints; a value of 3.02",
                 "quoted elsewhere does not follow from the published limit 1.8"),
  breastfeeding_rr = list(estimate = 3.9, ci_low = 1.8, ci_high = 8.7, evalue = 7.26, evalue_ci = 3.00,
                          decimals = 2)
)

out <- list(
  source = list(
    what = paste("Closed forms of Cinelli & Hazlett (2020) and VanderWeele & Ding (2017) / Smith &",
                 "VanderWeele (2019), evaluated in base R on base-R lm() fits; not the sensemakr or EValue",
                 "packages (not installable here), whose published numbers are in the 'published' blocks"),
    script = "tests/reference/robustness.R",
    data = paste("tests/reference/darfur.csv: the Darfur survey (Hazlett 2019) as shipped with R sensemakr",
                 "(GPL-3) and PySensemakr 0.0.8 (MIT, file sensemakr/data/darfur.csv), 1276 rows x 14 columns"),
    R = R.version.string, jsonlite = as.character(packageVersion("jsonlite"))),
  darfur = darfur_out,
  rv_numeric = rv_numeric,
  published = published,
  evalues = evalue_cases,
  evalue_published = evalue_published
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null"),
           "tests/reference/robustness_darfur.json")
