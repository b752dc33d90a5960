# Reference values for efficacy.reliability (tests/test_reliability.py).
# Run from the repository root:  Rscript tests/reference/reliability.R
# Writes tests/reference/reliability_<dataset>.json.  Each JSON embeds the data it was computed on,
# the R calls (as text) and the R / package versions, so the Python tests never need R.
suppressPackageStartupMessages({
  library(jsonlite)
  library(lavaan)
  library(semTools)
  library(psych)
  library(psychTools)
  library(GPArotation)
})

out_dir <- file.path("tests", "reference")
versions <- list(
  R = R.version.string,
  psych = as.character(packageVersion("psych")),
  psychTools = as.character(packageVersion("psychTools")),
  lavaan = as.character(packageVersion("lavaan")),
  semTools = as.character(packageVersion("semTools")),
  GPArotation = as.character(packageVersion("GPArotation")),
  jsonlite = as.character(packageVersion("jsonlite"))
)

df_to_list <- function(d) lapply(as.list(as.data.frame(d)), function(v) unname(v))

alpha_block <- function(x, call_text) {
  a <- psych::alpha(x, warnings = FALSE)
  list(
    call = call_text,
    nsub = nrow(x),
    n_complete = sum(complete.cases(x)),
    k = ncol(x),
    raw_alpha = a$total$raw_alpha,
    std_alpha = a$total$std.alpha,
    average_r = a$total$average_r,
    feldt_lower = unname(a$feldt$lower.ci),
    feldt_upper = unname(a$feldt$upper.ci),
    alpha_drop = list(item = colnames(x),
                      raw_alpha = unname(a$alpha.drop$raw_alpha),
                      std_alpha = unname(a$alpha.drop$std.alpha),
                      average_r = unname(a$alpha.drop$average_r)),
    item_stats = list(item = colnames(x),
                      n = unname(a$item.stats$n),
                      raw_r = unname(a$item.stats$raw.r),
                      r_drop = unname(a$item.stats$r.drop),
                      mean = unname(a$item.stats$mean),
                      sd = unname(a$item.stats$sd))
  )
}

omega_block <- function(x, nf, call_text) {
  o <- psych::omega(x, nfactors = nf, plot = FALSE)
  list(call = call_text, nfactors = nf,
       omega_h = o$omega_h, omega_tot = o$omega.tot, alpha = o$alpha,
       g_loadings = unname(o$schmid$sl[, 1]),
       h2 = unname(o$schmid$sl[, "h2"]),
       u2 = unname(o$schmid$sl[, "u2"]),
       phi = unname(o$schmid$phi),
       oblique = unname(unclass(o$schmid$oblique)))
}

cfa_block <- function(d, items, call_text) {
  model <- paste("f =~", paste(items, collapse = " + "))
  fit <- lavaan::cfa(model, data = d, std.lv = TRUE)  # ML, listwise deletion (lavaan defaults)
  pe <- lavaan::parameterEstimates(fit)
  lam <- pe$est[pe$op == "=~"]
  psi <- pe$est[pe$op == "~~" & pe$lhs == pe$rhs & pe$lhs %in% items]
  list(call = call_text, model = model, items = items,
       nobs = lavaan::lavInspect(fit, "nobs"),
       omega = unname(semTools::compRelSEM(fit)[["f"]]),
       omega_modelvar = unname(semTools::compRelSEM(fit, obs.var = FALSE)[["f"]]),
       loadings = lam, residual_variances = psi,
       fmin = unname(lavaan::fitMeasures(fit, "fmin")),
       chisq = unname(lavaan::fitMeasures(fit, "chisq")))
}

icc_block <- function(x, call_text, lmer) {
  r <- psych::ICC(x, lmer = lmer)
  res <- r$results
  list(call = call_text, n = nrow(x), k = ncol(x),
       type = res$type, ICC = res$ICC, F = res$F, df1 = res$df1, df2 = res$df2, p = res$p,
       lower = res[["lower bound"]], upper = res[["upper bound"]])
}

write_fixture <- function(obj, name) {
  path <- file.path(out_dir, paste0("reliability_", name, ".json"))
  jsonlite::write_json(obj, path, digits = NA, auto_unbox = TRUE, null = "null", na = "null",
                       pretty = FALSE)
  cat("wrote", path, "\n")
}

## 1. lavaan::HolzingerSwineford1939 (n = 301, no missing values) ------------------------------
hs <- lavaan::HolzingerSwineford1939[, paste0("x", 1:9)]
write_fixture(list(
  dataset = "lavaan::HolzingerSwineford1939, columns x1-x9",
  versions = versions,
  data = df_to_list(hs),
  alpha_x1_x9 = alpha_block(hs, "psych::alpha(HS[, paste0('x', 1:9)])"),
  alpha_x4_x6 = alpha_block(hs[, c("x4", "x5", "x6")], "psych::alpha(HS[, c('x4','x5','x6')])"),
  omega_x1_x9 = omega_block(hs, 3, "psych::omega(HS[, paste0('x', 1:9)], nfactors = 3, plot = FALSE)  # minres + oblimin + Schmid-Leiman"),
  cfa = list(
    x1_x9 = cfa_block(hs, paste0("x", 1:9), "semTools::compRelSEM(lavaan::cfa('f =~ x1 + ... + x9', data = HS, std.lv = TRUE))"),
    x1_x3 = cfa_block(hs, paste0("x", 1:3), "semTools::compRelSEM(lavaan::cfa('f =~ x1 + x2 + x3', data = HS, std.lv = TRUE))"),
    x4_x6 = cfa_block(hs, paste0("x", 4:6), "semTools::compRelSEM(lavaan::cfa('f =~ x4 + x5 + x6', data = HS, std.lv = TRUE))"),
    x7_x9 = cfa_block(hs, paste0("x", 7:9), "semTools::compRelSEM(lavaan::cfa('f =~ x7 + x8 + x9', data = HS, std.lv = TRUE))")
  ),
  icc_x4_x6 = icc_block(hs[, c("x4", "x5", "x6")], "psych::ICC(HS[, c('x4','x5','x6')], lmer = FALSE)", FALSE)
), "holzinger")

## 2. psych::bfi (psychTools), n = 2800 with missing values -------------------------------------
data(bfi, package = "psychTools")
keys_rev <- c("A1", "C4", "C5", "E1", "E2", "O2", "O5")   # reverse-keyed items (bfi.dictionary)
items25 <- c(paste0("A", 1:5), paste0("C", 1:5), paste0("E", 1:5), paste0("N", 1:5), paste0("O", 1:5))
b <- bfi[, items25]
for (it in keys_rev) b[[it]] <- 7 - b[[it]]               # response range 1-6: reverse = 1 + 6 - x
agree <- b[, paste0("A", 1:5)]
agree_cc <- na.omit(agree)
b_cc <- na.omit(b)
write_fixture(list(
  dataset = "psychTools::bfi, 25 items, reverse-keyed items (A1 C4 C5 E1 E2 O2 O5) scored 7 - x",
  versions = versions,
  reversed = keys_rev,
  data = df_to_list(b),
  alpha_agree_pairwise = alpha_block(agree, "psych::alpha(bfi A1r..A5)  # default use = 'pairwise'; Feldt CI with nsub = nrow(x) = 2800"),
  alpha_agree_listwise = alpha_block(agree_cc, "psych::alpha(na.omit(bfi A1r..A5))"),
  omega_bfi25_listwise = omega_block(b_cc, 5, "psych::omega(na.omit(bfi 25 items, reversed), nfactors = 5, plot = FALSE)"),
  cfa = list(
    agree = cfa_block(agree, paste0("A", 1:5), "semTools::compRelSEM(lavaan::cfa('f =~ A1 + ... + A5', data = bfi_agree, std.lv = TRUE))  # listwise deletion")
  )
), "bfi")

## 3. Shrout & Fleiss (1979) example: psych's `sf` (6 targets x 4 judges) ----------------------
sf <- matrix(c(9, 2, 5, 8,
               6, 1, 3, 2,
               8, 4, 6, 8,
               7, 1, 2, 6,
               10, 5, 6, 9,
               6, 2, 4, 7), ncol = 4, byrow = TRUE,
             dimnames = list(paste0("S", 1:6), paste0("J", 1:4)))
write_fixture(list(
  dataset = "Shrout & Fleiss (1979) Table 2, as in the psych::ICC help page",
  versions = versions,
  data = df_to_list(sf),
  icc_anova = icc_block(sf, "psych::ICC(sf, lmer = FALSE)", FALSE),
  icc_lmer = icc_block(sf, "psych::ICC(sf)  # lmer = TRUE default", TRUE),
  alpha = alpha_block(as.data.frame(sf), "psych::alpha(sf)")
), "sf")

## 4. BCa bootstrap intervals (boot::boot.ci(type = "bca")) on HolzingerSwineford x1-x9 --------
## Monte-Carlo quantities: the Python tests compare within Monte-Carlo error, not to 1e-3.
suppressPackageStartupMessages(library(boot))
alpha_stat <- function(d, i) {
  C <- cov(d[i, ])
  k <- ncol(C)
  k / (k - 1) * (1 - sum(diag(C)) / sum(C))
}
omega_stat <- function(d, i) {
  fit <- lavaan::cfa(paste("f =~", paste(colnames(d), collapse = " + ")), data = d[i, ], std.lv = TRUE)
  if (!lavaan::lavInspect(fit, "converged")) return(NA_real_)
  unname(semTools::compRelSEM(fit)[["f"]])
}
set.seed(20261128)
b_alpha <- boot::boot(hs, alpha_stat, R = 20000)
ci_alpha <- boot::boot.ci(b_alpha, type = "bca")$bca
set.seed(20261128)
b_omega <- suppressWarnings(boot::boot(hs, omega_stat, R = 2000))
ci_omega <- boot::boot.ci(b_omega, type = "bca")$bca
write_fixture(list(
  dataset = "lavaan::HolzingerSwineford1939, columns x1-x9",
  versions = c(versions, boot = as.character(packageVersion("boot"))),
  note = "BCa intervals are Monte-Carlo estimates; compare within Monte-Carlo error",
  alpha = list(call = "boot::boot.ci(boot::boot(HS, alpha_stat, R = 20000), type = 'bca')  # set.seed(20261128)",
               R = 20000, t0 = b_alpha$t0, lower = ci_alpha[4], upper = ci_alpha[5],
               boot_sd = sd(b_alpha$t)),
  omega = list(call = "boot::boot.ci(boot::boot(HS, compRelSEM(cfa(f =~ x1 + ... + x9)), R = 2000), type = 'bca')",
               R = 2000, t0 = b_omega$t0, lower = ci_omega[4], upper = ci_omega[5],
               boot_sd = sd(b_omega$t, na.rm = TRUE), n_failed = sum(is.na(b_omega$t)))
), "bootstrap")
