# Reference values for efficacy.measurement.longitudinal_invariance (tests/test_longitudinal_invariance.py).
# Run from the repository root:  Rscript tests/reference/longitudinal_invariance.R
# Simulates a 3-wave panel of a 4-item scale (n = 300; attrition MAR at waves 2 and 3; item 3's intercept
# drifts upward at wave 3, so the scalar step should fail), writes it to longitudinal_panel.csv, fits the
# configural / metric / scalar / strict models written with lavaan labels (the same syntax as
# efficacy.measurement.longitudinal_syntax) and stores fit measures, estimates and lavTestLRT results in
# longitudinal_invariance_panel.json. ML and MLR, both with missing = "ml" (FIML).
suppressPackageStartupMessages({ library(jsonlite); library(lavaan) })
set.seed(20261207)
n <- 300; W <- 3; K <- 4
lam <- c(1, 0.8, 1.2, 0.9); nu <- c(3, 2.8, 3.2, 3.1); th <- c(0.5, 0.6, 0.4, 0.7)
Phi <- matrix(c(1, .6, .5, .6, 1.1, .65, .5, .65, 1.2), 3) ; kappa <- c(0, 0.2, 0.3)
eta <- matrix(rnorm(n * W), n) %*% chol(Phi) + matrix(kappa, n, W, byrow = TRUE)
u <- matrix(rnorm(n * K), n) * 0.35          # item-specific person effects: residuals correlated over waves
dat <- data.frame(id = seq_len(n))
for (w in 1:W) for (j in 1:K) {
  shift <- if (w == 3 && j == 3) 0.45 else 0
  dat[[sprintf("se%d_w%d", j, w)]] <- round(nu[j] + shift + lam[j] * eta[, w] + u[, j] +
                                              rnorm(n, 0, sqrt(th[j])), 3)
}
# attrition: missing at wave 2/3 more likely for low wave-1 scores (MAR)
s1 <- rowMeans(dat[, sprintf("se%d_w1", 1:K)])
p2 <- plogis(-2 - 1.0 * scale(s1)); p3 <- plogis(-1.5 - 1.0 * scale(s1))
gone2 <- runif(n) < p2; gone3 <- gone2 | runif(n) < p3
dat[gone2, sprintf("se%d_w2", 1:K)] <- NA
dat[gone3, sprintf("se%d_w3", 1:K)] <- NA
dat[sample(n, 15), "se2_w1"] <- NA            # a few item nonresponses
write.csv(dat, file.path("tests", "reference", "longitudinal_panel.csv"), row.names = FALSE, na = "")

items <- lapply(1:W, function(w) sprintf("se%d_w%d", 1:K, w)); names(items) <- paste0("w", 1:W)
syntax <- function(level) {
  L <- character(0)
  for (w in 1:W) {
    it <- items[[w]]
    terms <- c(paste0("1*", it[1]), if (level >= 1) paste0("l", 2:K, "*", it[-1]) else it[-1])
    L <- c(L, paste0("f_w", w, " =~ ", paste(terms, collapse = " + ")))
  }
  if (level >= 2) {
    for (w in 1:W) L <- c(L, paste0(items[[w]], " ~ i", 1:K, "*1"))
    L <- c(L, "f_w1 ~ 0*1", paste0("f_w", 2:W, " ~ 1"))
  }
  if (level >= 3) for (w in 1:W) L <- c(L, paste0(items[[w]], " ~~ r", 1:K, "*", items[[w]]))
  for (j in 1:K) for (a in 1:(W - 1)) for (b in (a + 1):W) L <- c(L, paste0(items[[a]][j], " ~~ ", items[[b]][j]))
  paste(L, collapse = "\n")
}
steps <- c("configural", "metric", "scalar", "strict")
fm <- c("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr", "aic", "bic", "npar", "ntotal",
        "chisq.scaled", "chisq.scaling.factor", "cfi.robust", "tli.robust", "rmsea.robust")
out <- list(source = list(script = "tests/reference/longitudinal_invariance.R",
                          calls = c("lavaan::cfa(syntax(step), data, meanstructure = TRUE, missing = 'ml', estimator = est)",
                                    "lavaan::fitMeasures(fit)", "lavaan::parameterEstimates(fit)",
                                    "lavaan::lavTestLRT(restricted, free) (method 'default': standard for ML, satorra.bentler.2001 for MLR)"),
                          R = R.version.string, lavaan = as.character(packageVersion("lavaan")),
                          data = "longitudinal_panel.csv (simulated here, seed 20261207)"),
            items = items, syntax = setNames(lapply(0:3, syntax), steps))
for (est in c("ML", "MLR")) {
  fits <- lapply(0:3, function(l) cfa(syntax(l), data = dat, meanstructure = TRUE, missing = "ml", estimator = est))
  names(fits) <- steps
  res <- list()
  for (s in steps) {
    f <- fits[[s]]
    x <- fitMeasures(f, intersect(fm, names(fitMeasures(f))))
    pe <- parameterEstimates(f)
    if (is.null(pe$label)) pe$label <- ""
    res[[s]] <- list(fit = as.list(unclass(x)), estimates = pe[, c("lhs", "op", "rhs", "label", "est", "se")])
  }
  lrt <- list()
  for (i in 2:4) {
    t <- lavTestLRT(fits[[i]], fits[[i - 1]])
    lrt[[steps[i]]] <- list(statistic = t[2, "Chisq diff"], df = t[2, "Df diff"], pvalue = t[2, "Pr(>Chisq)"])
  }
  out[[est]] <- list(steps = res, lrt = lrt)
}
write_json(out, file.path("tests", "reference", "longitudinal_invariance_panel.json"), digits = NA,
           auto_unbox = TRUE, pretty = TRUE)
