# Reference values for efficacy.measurement.alignment (tests/test_alignment.py).
# Run from the repository root:  Rscript tests/reference/alignment.R
# sirt (invariance.alignment) and Mplus cannot be installed here, so the alignment optimisation of
# Asparouhov & Muthen (2014) is written out in R independently of the Python code: lavaan's configural
# multi-group CFA with std.lv = TRUE gives lambda0, nu0 (factor mean 0, variance 1 in every group); the
# FIXED alignment (group 1: mean 0, variance 1) minimises
#   sum_p sum_{g<h} sqrt(n_g n_h) [f(lambda1_pg - lambda1_ph) + f(nu1_pg - nu1_ph)],  f(x) = (x^2 + 0.01)^(1/4),
#   lambda1 = lambda0 / sqrt(psi_g),  nu1 = nu0 - alpha_g lambda0 / sqrt(psi_g)
# by optim(BFGS) from several starts. Data: alignment_groups.csv (8 groups x 150, simulated by
# tests/test_alignment.py::simulate(8, 150, shift=(3, 2, 0.5), seed=21), rounded to 3 decimals).
suppressPackageStartupMessages({ library(jsonlite); library(lavaan) })
dat <- read.csv(file.path("tests", "reference", "alignment_groups.csv"))
items <- paste0("y", 1:5)
model <- paste("f =~", paste(items, collapse = " + "))
fit <- cfa(model, data = dat, group = "country", std.lv = TRUE, meanstructure = TRUE)
pe <- parameterEstimates(fit)
groups <- lavInspect(fit, "group.label")
G <- length(groups)
lam0 <- t(sapply(1:G, function(g) pe$est[pe$op == "=~" & pe$group == g][match(items, pe$rhs[pe$op == "=~" & pe$group == g])]))
nu0 <- t(sapply(1:G, function(g) pe$est[pe$op == "~1" & pe$group == g][match(items, pe$lhs[pe$op == "~1" & pe$group == g])]))
n <- as.numeric(table(factor(dat$country, levels = groups)))
W <- sqrt(outer(n, n))
f <- function(x) (x^2 + 0.01)^0.25
loss <- function(x) {
  alpha <- c(0, x[1:(G - 1)]); psi <- c(1, exp(x[G:(2 * G - 2)]))
  lam1 <- lam0 / sqrt(psi); nu1 <- nu0 - alpha * lam1
  tot <- 0
  for (g in 1:(G - 1)) for (h in (g + 1):G)
    tot <- tot + W[g, h] * sum(f(lam1[g, ] - lam1[h, ]) + f(nu1[g, ] - nu1[h, ]))
  tot
}
set.seed(1)
starts <- c(list(rep(0, 2 * G - 2)), lapply(1:5, function(i) rnorm(2 * G - 2, 0, 0.5)))
fits <- lapply(starts, function(s) optim(s, loss, method = "BFGS", control = list(reltol = 1e-14, maxit = 5000)))
best <- fits[[which.min(sapply(fits, `[[`, "value"))]]
best <- optim(best$par, loss, method = "BFGS", control = list(reltol = 1e-16, maxit = 5000))   # polish
alpha <- c(0, best$par[1:(G - 1)]); psi <- c(1, exp(best$par[G:(2 * G - 2)]))
lam1 <- lam0 / sqrt(psi); nu1 <- nu0 - alpha * lam1
out <- list(source = list(script = "tests/reference/alignment.R",
                          calls = c("lavaan::cfa(model, data, group = 'country', std.lv = TRUE, meanstructure = TRUE)",
                                    "optim(method = 'BFGS') of the Asparouhov-Muthen (2014) FIXED alignment loss, written out in R"),
                          R = R.version.string, lavaan = as.character(packageVersion("lavaan")),
                          data = "alignment_groups.csv"),
            groups = groups, n = n, chisq = fitMeasures(fit, "chisq")[[1]], df = fitMeasures(fit, "df")[[1]],
            lambda0 = lam0, nu0 = nu0, alpha = alpha, psi = psi, loss = best$value,
            lambda_aligned = lam1, nu_aligned = nu1,
            starts_values = sapply(fits, `[[`, "value"))
write_json(out, file.path("tests", "reference", "alignment_groups.json"), digits = NA, auto_unbox = TRUE, pretty = TRUE)
cat(sprintf("loss %.10f\n", best$value)); print(round(alpha, 4)); print(round(psi, 4)); print(out$starts_values)
