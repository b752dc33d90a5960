# Reference values for efficacy.measurement.longitudinal_invariance(..., ordered=) (tests/test_longitudinal_ordinal.py).
# Run from the repository root:  Rscript tests/reference/longitudinal_ordinal.R
# Cuts the simulated 3-wave panel of tests/reference/longitudinal_panel.csv (4 items, n = 300, MAR attrition, item 3's
# intercept drifting upward at wave 3) into 4 ordered categories at the same cut points (2, 3, 4) for every item and
# wave, writes longitudinal_ordinal_panel.csv, and fits the longitudinal Wu & Estabrook (2016) sequence (Liu et al.
# 2017) written by semTools::measEq.syntax(ID.fac = "std.lv", ID.cat = "Wu.Estabrook.2016", parameterization =
# "delta", longFacNames =, longIndNames =, long.equal =) with lavaan WLSMV, missing = "pairwise" and "listwise".
# The strict step (long.equal + "residuals") is written and fitted with parameterization = "theta" (residual
# variances of the latent responses are not parameters under delta); its difference test is against the scalar
# model in the theta parameterisation (the same fit as the delta scalar model: "scalar_theta_chisq").
# Output: longitudinal_ordinal_panel.json (fit measures, estimates, lavTestLRT differences).
suppressPackageStartupMessages({ library(jsonlite); library(lavaan); library(semTools) })
dat <- read.csv(file.path("tests", "reference", "longitudinal_panel.csv"))
W <- 3; K <- 4
items <- lapply(1:W, function(w) sprintf("se%d_w%d", 1:K, w)); names(items) <- paste0("w", 1:W)
allit <- unlist(items, use.names = FALSE)
for (v in allit) dat[[v]] <- as.integer(cut(dat[[v]], c(-Inf, 2, 3, 4, Inf)))
dat <- dat[, c("id", allit)]
write.csv(dat, file.path("tests", "reference", "longitudinal_ordinal_panel.csv"), row.names = FALSE, na = "")
mod <- paste(sapply(1:W, function(w) paste0("f_w", w, " =~ ", paste(items[[w]], collapse = " + "))), collapse = "\n")
lfn <- list(f = paste0("f_w", 1:W))
lin <- setNames(lapply(1:K, function(j) sprintf("se%d_w%d", j, 1:W)), paste0("se", 1:K))
steps <- c("configural", "thresholds", "metric", "scalar", "strict")
equal <- list(configural = "", thresholds = "thresholds", metric = c("thresholds", "loadings"),
              scalar = c("thresholds", "loadings", "intercepts"),
              strict = c("thresholds", "loadings", "intercepts", "residuals"))
param <- c(configural = "delta", thresholds = "delta", metric = "delta", scalar = "delta", strict = "theta")
meq <- function(s, par, miss) {
  # do.call: measEq.syntax evaluates some arguments by name in the calling frame, so pass values
  syn <- do.call(measEq.syntax, list(configural.model = mod, data = dat, ordered = allit, parameterization = par,
                                     ID.fac = "std.lv", ID.cat = "Wu.Estabrook.2016", longFacNames = lfn,
                                     longIndNames = lin, long.equal = equal[[s]]))
  cfa(as.character(syn), data = dat, ordered = allit, parameterization = par, estimator = "WLSMV", missing = miss)
}
fm <- c("npar", "ntotal", "chisq", "df", "pvalue", "chisq.scaled", "df.scaled", "pvalue.scaled", "chisq.scaling.factor",
        "chisq.shift.parameters", "cfi", "tli", "rmsea", "cfi.scaled", "tli.scaled", "rmsea.scaled", "cfi.robust",
        "tli.robust", "rmsea.robust", "srmr")
out <- list(source = list(script = "tests/reference/longitudinal_ordinal.R",
                          calls = c("semTools::measEq.syntax(configural.model, data, ordered = items, parameterization = 'delta' ('theta' for strict), ID.fac = 'std.lv', ID.cat = 'Wu.Estabrook.2016', longFacNames = list(f = c('f_w1','f_w2','f_w3')), longIndNames = list(se1 = c('se1_w1','se1_w2','se1_w3'), ...), long.equal = step)",
                                    "lavaan::cfa(as.character(syntax), data, ordered = items, parameterization = 'delta' ('theta' for strict), estimator = 'WLSMV', missing = missing)",
                                    "lavaan::fitMeasures(fit)", "lavaan::parameterEstimates(fit, standardized = TRUE)",
                                    "lavaan::lavTestLRT(restricted, free) (WLSMV default: method 'satorra.2000', scaled.shifted)"),
                          R = R.version.string, lavaan = as.character(packageVersion("lavaan")),
                          semTools = as.character(packageVersion("semTools")),
                          data = "longitudinal_ordinal_panel.csv: longitudinal_panel.csv cut at 2, 3, 4 into categories 1-4"),
            items = items, configural = mod)
for (miss in c("pairwise", "listwise")) {
  fits <- lapply(steps, function(s) meq(s, param[[s]], miss))
  names(fits) <- steps
  res <- list()
  for (s in steps) {
    f <- fits[[s]]
    x <- fitMeasures(f, fm)
    pe <- parameterEstimates(f, standardized = TRUE)
    pe <- pe[pe$op %in% c("=~", "|", "~*~", "~1", "~~"), c("lhs", "op", "rhs", "est", "se", "std.all")]
    res[[s]] <- list(fit = as.list(unclass(x)), estimates = pe)
  }
  lrt <- list()
  for (i in 2:4) {
    t <- lavTestLRT(fits[[i]], fits[[i - 1]])
    lrt[[steps[i]]] <- list(statistic = t[2, "Chisq diff"], df = t[2, "Df diff"], pvalue = t[2, "Pr(>Chisq)"])
  }
  scalar_theta <- meq("scalar", "theta", miss)
  t <- lavTestLRT(fits[["strict"]], scalar_theta)
  lrt[["strict"]] <- list(statistic = t[2, "Chisq diff"], df = t[2, "Df diff"], pvalue = t[2, "Pr(>Chisq)"],
                          note = "lavTestLRT(strict, scalar), both parameterization = 'theta'")
  out[[miss]] <- list(steps = res, lrt = lrt, scalar_theta_chisq = unname(fitMeasures(scalar_theta, "chisq")))
}
# The lavaan syntax efficacy.measurement.longitudinal_syntax(items, step, ordered = TRUE, n_categories = 4) writes
# (marker identification, threshold labels th<j>_<c>): written here the same way and fitted, to show it is the
# same model as measEq.syntax's (same chi-square). Strict (level 4) is the theta form: residual variances
# 1*x at every wave instead of the ~*~ lines, fitted with parameterization = "theta".
own_syntax <- function(level) {
  L <- character(0)
  for (w in 1:W) {
    it <- items[[w]]
    terms <- c(paste0("1*", it[1]), if (level >= 2) paste0("l", 2:K, "*", it[-1]) else it[-1])
    L <- c(L, paste0("f_w", w, " =~ ", paste(terms, collapse = " + ")))
  }
  for (w in 1:W) for (j in 1:K) {
    lab <- if (level >= 1) paste0("th", j, "_", 1:3, "*") else rep("", 3)
    L <- c(L, paste0(items[[w]][j], " | ", paste0(lab, "t", 1:3, collapse = " + ")))
  }
  for (w in 1:W) L <- c(L, paste0(items[[w]], " ~ ", if (w > 1 && level %in% 1:2) "NA" else "0", "*1"))
  if (level <= 3) {
    for (w in 1:W) L <- c(L, paste0(items[[w]], " ~*~ ", if (w > 1 && level >= 1) "NA" else "1", "*", items[[w]]))
  } else {
    for (w in 1:W) L <- c(L, paste0(items[[w]], " ~~ 1*", items[[w]]))
  }
  if (level >= 3) L <- c(L, "f_w1 ~ 0*1", paste0("f_w", 2:W, " ~ 1"))
  for (j in 1:K) for (a in 1:(W - 1)) for (b in (a + 1):W) L <- c(L, paste0(items[[a]][j], " ~~ ", items[[b]][j]))
  paste(L, collapse = "\n")
}
out$syntax <- setNames(lapply(0:4, own_syntax), steps)
out$syntax_chisq <- sapply(0:4, function(l) fitMeasures(cfa(own_syntax(l), data = dat, ordered = allit,
  parameterization = param[[l + 1]], estimator = "WLSMV", missing = "pairwise"), "chisq"))
names(out$syntax_chisq) <- steps
out$syntax_chisq <- as.list(out$syntax_chisq)
write_json(out, file.path("tests", "reference", "longitudinal_ordinal_panel.json"), digits = NA,
           auto_unbox = TRUE, pretty = TRUE)
