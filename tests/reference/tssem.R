# Reference values for efficacy.meta.tssem (two-stage MASEM, Cheung & Chan 2005; issue #21).
# Run from the repository root:  Rscript tests/reference/tssem.R
# Writes tests/reference/tssem_craft.json (the data are data/literature/craft2003.csv = metadat's dat.craft2003).
#
# metaSEM is not installable here, so each stage is checked against the tool that fits the same model:
# - Stage 1 (random-effects multivariate GLS of the correlations): metafor::rma.mv(struct = "UN" / "DIAG"),
#   with the Olkin-Siotani sampling covariances from metafor::rcalc(), either at each study's own
#   correlations ("individual") or at the sample-size-weighted mean correlation matrix ("weighted", metaSEM's
#   default acov; metaSEM divides by n where rcalc divides by n - 1, so rcalc's V is scaled by (n - 1) / n).
# - Stage 2 (WLS fit of a path model to the pooled matrix, weight = inverse of the pooled correlations'
#   covariance): lavaan with sample.cov = pooled R, NACOV = (N - 1) * acov, WLS.V = solve(NACOV),
#   estimator = "WLS". (lavaan 0.6.14 multiplies the WLS discrepancy and divides the information by N - 1 for a
#   sample.cov input, so NACOV = (N - 1) * acov makes its chi-square e' acov^-1 e and its SEs
#   sqrt(diag((Delta' acov^-1 Delta)^-1)), i.e. the TSSEM ones; with N * acov both are off by (N - 1) / N.)
#   lavaan 0.6.14's correlation = TRUE does not accept a sample.cov with a user NACOV (its WLS.obs keeps the
#   diagonal), so the correlation structure is imposed as metaSEM does: exogenous variances fixed at 1 and
#   each residual variance constrained (==) to 1 - explained variance. The diagonal moments then fit exactly
#   and get their own block (identity) in NACOV, so they add nothing to the discrepancy; lavaan counts them
#   as data, hence df(metaSEM) = df(lavaan) - p. The fit indices use metaSEM's summary.wls() formulas:
#   RMSEA = sqrt(max((T - df) / (N - 1), 0) / df), CFI/TLI against the independence model
#   (T_B = r' acov^-1 r, df_B = p(p - 1)/2), SRMR = sqrt(mean(vechs(R - implied)^2)).
#   Likelihood-based CIs (metaSEM intervals.type = "LB"): the values of a parameter or defined effect at
#   which the minimum WLS discrepancy under the constraint "parameter == value" (lavaan, refitted) exceeds
#   its minimum by qchisq(.95, 1), found with uniroot.
suppressPackageStartupMessages({library(metafor); library(lavaan); library(jsonlite)})
versions <- list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
                 lavaan = as.character(packageVersion("lavaan")),
                 metadat = as.character(packageVersion("metadat")))
out <- function(x, file) write_json(x, file.path("tests/reference", file), digits = NA, auto_unbox = TRUE,
                                    pretty = TRUE, na = "null")
ctrl <- list(rel.tol = 1e-12, eval.max = 100000, iter.max = 100000)
dat <- dat.craft2003
vn <- c("acog", "asom", "conf", "perf")

## ---------------------------------------------------------------------------------------- stage 1
stage1 <- function(acov, struct, method) {
  d <- dat[order(dat$study), ]
  if (acov == "individual") {
    tmp <- rcalc(ri ~ var1 + var2 | study, ni = ni, data = d)
    V <- tmp$V; d2 <- tmp$dat
  } else {
    # n-weighted mean of each correlation over the studies reporting it
    d$pair <- paste(d$var1, d$var2, sep = ".")
    ok <- !is.na(d$ri)
    rbar <- tapply(d$ri[ok] * d$ni[ok], d$pair[ok], sum) / tapply(d$ni[ok], d$pair[ok], sum)
    dm <- d; dm$ri <- unname(rbar[dm$pair])
    tmp <- rcalc(ri ~ var1 + var2 | study, ni = ni, data = dm)
    V <- tmp$V; d2 <- tmp$dat
    # rcalc returns each study's pairs in the same order as the input rows: put back the study's own r
    d2$yi <- d$ri[match(paste(d2$study, d2$var1.var2), paste(d$study, d$pair))]
    nrep <- d$ni[match(d2$study, d$study)]
    V <- V * outer(sqrt((nrep - 1) / nrep), sqrt((nrep - 1) / nrep))
    keep <- !is.na(d2$yi)
    V <- V[keep, keep]; d2 <- d2[keep, ]
  }
  fit <- function(control) rma.mv(yi, V, mods = ~ var1.var2 - 1, random = ~ var1.var2 | study, struct = struct,
                                   data = d2, method = method, control = control)
  # tight convergence; nlminb reports failure when a tau2 sits on the boundary 0, then metafor's defaults
  control <- "rel.tol = 1e-12"
  res <- tryCatch(fit(ctrl), error = function(e) { control <<- "default"; fit(list()) })
  pairs <- sub("var1.var2", "", names(coef(res)))
  # I2 of each correlation: tau2 of the multivariate model against the typical within-study variance of the
  # studies reporting it (Higgins & Thompson 2002), i.e. rma()'s I2 with tau2 fixed
  used <- res$not.na                        # rows rma.mv kept (a study whose covariances need an unreported r is dropped)
  I2 <- sapply(seq_along(pairs), function(j) {
    s <- used & d2$var1.var2 == pairs[j]
    rma(d2$yi[s], diag(V)[s], tau2 = res$tau2[j], method = "REML")$I2
  })
  studies <- unique(d2$study[used])
  list(call = sprintf("rma.mv(yi, V, mods = ~ var1.var2 - 1, random = ~ var1.var2 | study, struct = '%s', method = '%s'); V = %s",
                      struct, method, if (acov == "individual") "rcalc(ri ~ var1 + var2 | study, ni = ni)$V"
                      else "rcalc() at the n-weighted mean correlations, times (n - 1) / n"),
       acov = acov, struct = struct, method = method, control = control,
       pairs = pairs, coef = unname(coef(res)), se = unname(res$se), vcov = unname(vcov(res)),
       tau2 = res$tau2, rho = if (struct == "UN") res$rho else NA, I2 = I2,
       QE = res$QE, QEp = res$QEp, QE_df = res$k - res$p, k = res$k, studies = studies,
       n_total = sum(d$ni[match(studies, d$study)]),
       logLik = as.numeric(logLik(res)), V = unname(V), yi = d2$yi, V_pairs = as.character(d2$var1.var2),
       V_study = d2$study)
}
s1 <- list(individual_UN_REML = stage1("individual", "UN", "REML"),
           weighted_UN_REML = stage1("weighted", "UN", "REML"),
           weighted_DIAG_ML = stage1("weighted", "DIAG", "ML"))

## ---------------------------------------------------------------------------------------- stage 2
nacov_for <- function(ovn, VC, N) {
  p <- length(ovn)
  ij <- do.call(rbind, lapply(1:p, function(j) cbind(j:p, j)))           # lavaan's vech order
  lab <- apply(ij, 1, function(x) if (x[1] == x[2]) NA else paste(sort(ovn[x]), collapse = "."))
  off <- !is.na(lab)
  G <- diag(nrow(ij))
  G[off, off] <- (N - 1) * VC[lab[off], lab[off]]
  G
}
wls_fit <- function(model, R, VC, N, extra = "") {
  fit0 <- lavaan::sem(model, sample.cov = R, sample.nobs = N, fixed.x = FALSE, do.fit = FALSE)
  ovn <- lavNames(fit0, "ov")
  G <- nacov_for(ovn, VC, N)
  lavaan::sem(paste(model, extra, sep = "\n"), sample.cov = R[ovn, ovn], sample.nobs = N, fixed.x = FALSE,
              sample.cov.rescale = FALSE, estimator = "WLS", NACOV = G, WLS.V = solve(G),
              control = list(rel.tol = 1e-14, eval.max = 100000, iter.max = 100000))
}
discrepancy <- function(fit, R, VC) {          # metaSEM's -2LL of the WLS fit: e' acov^-1 e on the vechs
  S <- lavInspect(fit, "implied")$cov; ovn <- rownames(S)
  ij <- which(lower.tri(S), arr.ind = TRUE)
  lab <- apply(ij, 1, function(x) paste(sort(ovn[x]), collapse = "."))
  e <- (R[ovn, ovn] - S)[lower.tri(S)]
  list(F = drop(t(e) %*% solve(VC[lab, lab]) %*% e), srmr = sqrt(mean(e^2)))
}
# the models: partial mediation (saturated, df = 0) and full mediation (df = 2), with the constraints
# that put ones on the diagonal of the implied correlation matrix
models <- list(
  partial = list(syntax = "conf ~ a1*acog + a2*asom\nperf ~ c1*acog + c2*asom + b*conf\nind_acog := a1*b\nind_asom := a2*b\ntot_acog := c1 + a1*b",
                 constraints = "acog ~~ 1*acog + r*asom\nasom ~~ 1*asom\nconf ~~ e1*conf\nperf ~~ e2*perf\ne1 == 1 - (a1^2 + a2^2 + 2*a1*a2*r)\ne2 == 1 - (c1^2 + c2^2 + b^2 + 2*c1*c2*r + 2*c1*b*(a1 + a2*r) + 2*c2*b*(a1*r + a2))",
                 lb = c("b", "ind_acog", "ind_asom")),
  full = list(syntax = "conf ~ a1*acog + a2*asom\nperf ~ b*conf\nind_acog := a1*b\nind_asom := a2*b",
              constraints = "acog ~~ 1*acog + r*asom\nasom ~~ 1*asom\nconf ~~ e1*conf\nperf ~~ e2*perf\ne1 == 1 - (a1^2 + a2^2 + 2*a1*a2*r)\ne2 == 1 - b^2",
              lb = c("a1", "b", "r", "ind_acog", "ind_asom")),
  # a model that does not fit (somatic anxiety only correlates with cognitive anxiety): RMSEA > 0
  misfit = list(syntax = "conf ~ a1*acog\nperf ~ b*conf\nacog ~~ r*asom",
                constraints = "acog ~~ 1*acog\nasom ~~ 1*asom\nconf ~~ e1*conf\nperf ~~ e2*perf\ne1 == 1 - a1^2\ne2 == 1 - b^2",
                lb = character(0)))
stage2 <- function(st, mname) {
  m <- models[[mname]]
  R <- vec2mat(st$coef); rownames(R) <- colnames(R) <- vn
  VC <- st$vcov; rownames(VC) <- colnames(VC) <- st$pairs
  N <- st$n_total
  model <- paste(m$syntax, m$constraints, sep = "\n")
  fit <- wls_fit(model, R, VC, N)
  pe <- parameterEstimates(fit)
  pe <- pe[pe$op %in% c("~", ":=") | (pe$op == "~~" & pe$lhs != pe$rhs), ]
  res_var <- coef(fit)[c("e1", "e2")]
  dsc <- discrepancy(fit, R, VC)
  p <- length(vn); dfT <- fitMeasures(fit, "df") - p
  rr <- st$coef; TB <- drop(t(rr) %*% solve(st$vcov) %*% rr); dfB <- p * (p - 1) / 2
  T <- dsc$F
  fitm <- list(chisq = T, chisq_lavaan = unname(fitMeasures(fit, "chisq")), df = unname(dfT),
               pvalue = if (dfT > 0) pchisq(T, dfT, lower.tail = FALSE) else NA,
               rmsea = if (dfT > 0) sqrt(max((T - dfT) / (N - 1), 0) / dfT) else 0,
               cfi = 1 - max(T - dfT, 0) / max(T - dfT, TB - dfB, 0),
               tli = if (dfT > 0) (TB / dfB - T / dfT) / (TB / dfB - 1) else NA,
               srmr = dsc$srmr, baseline_chisq = TB, baseline_df = dfB, n = N)
  # likelihood-based CIs by profiling the discrepancy (refits with the parameter constrained)
  crit <- qchisq(0.95, 1)
  prof <- function(lab, v) {
    f <- wls_fit(model, R, VC, N, extra = sprintf("%s == %.17g", lab, v))
    discrepancy(f, R, VC)$F - T - crit
  }
  rmsea_ci <- function(q) {                     # lavaan's 90% interval, with N - 1 as metaSEM's RMSEA
    if (dfT <= 0) return(NA)
    f <- function(l) pchisq(T, dfT, ncp = l) - q
    if (f(0) < 0) return(0)
    l <- uniroot(f, c(0, max(T, 1) * 10), tol = 1e-12)$root
    sqrt(l / ((N - 1) * dfT))
  }
  fitm$rmsea_ci_low <- rmsea_ci(0.95); fitm$rmsea_ci_high <- rmsea_ci(0.05)
  lb <- lapply(m$lb, function(lab) {
    est <- pe$est[pe$label == lab]; se <- pe$se[pe$label == lab]
    lo <- uniroot(function(v) prof(lab, v), c(est - 4 * se, est), tol = 1e-10)$root
    hi <- uniroot(function(v) prof(lab, v), c(est, est + 4 * se), tol = 1e-10)$root
    c(lo, hi)
  })
  names(lb) <- m$lb
  S <- lavInspect(fit, "implied")$cov
  list(model = m$syntax, call = paste0("lavaan::sem(model, sample.cov = R, sample.nobs = N, fixed.x = FALSE, sample.cov.rescale = FALSE, ",
                                        "estimator = 'WLS', NACOV = (N - 1) * acov (+ identity block for the diagonal), WLS.V = solve(NACOV)); ",
                                        "model = syntax + constraints: ", gsub("\n", "; ", m$constraints)),
       lhs = pe$lhs, op = pe$op, rhs = pe$rhs, label = pe$label, est = pe$est, se = pe$se,
       resid_var = unname(res_var), resid_names = c("conf", "perf"),
       implied = unname(S[vn, vn]), fit = fitm, lb = lb)
}
s2 <- list(individual_partial = stage2(s1$individual_UN_REML, "partial"),
           individual_misfit = stage2(s1$individual_UN_REML, "misfit"),
           individual_full = stage2(s1$individual_UN_REML, "full"),
           weighted_full = stage2(s1$weighted_UN_REML, "full"))

out(list(source = paste("tests/reference/tssem.R: stage 1 metafor::rma.mv on rcalc() covariances of dat.craft2003;",
                        "stage 2 lavaan WLS with sample.cov = pooled R and NACOV = (N - 1) * vcov(stage 1)"),
         versions = versions, variables = vn, stage1 = s1, stage2 = s2),
    "tssem_craft.json")
