# Reference values for tests/test_multiverse.py (efficacy.multiverse vs lavaan and R's drop1).
# Run from the repo root:
#   .venv/bin/python tests/reference/multiverse_export.py   # writes tests/reference/multiverse_mastery.csv
#   Rscript tests/reference/multiverse.R                     # writes tests/reference/multiverse_mastery.json
# Data: bundled data/raw/mastery_trial cleaned by efficacy with the exclusion rules switched off.
# The codebook's rules: 'attention' drops attention != 4, 'age' drops age < 18 (non-missing values).
# Each specification: rules on/off, mediator scored as the mean (efficacy), the complete-item sum
# (efficacy_sum) or a factor of se1..se6, covariates none / age, missing listwise / ml, estimator ML / MLR.
suppressPackageStartupMessages({library(lavaan); library(jsonlite)})
out_dir <- "tests/reference"
d0 <- read.csv(file.path(out_dir, "multiverse_mastery.csv"))
hit_att <- !is.na(d0$attention) & d0$attention != 4
hit_age <- !is.na(d0$age) & d0$age < 18
model <- function(scoring, cov) {
  cv <- if (cov == "age") " + age" else ""
  if (scoring == "latent") {
    paste("eta =~ se1 + se2 + se3 + se4 + se5 + se6", paste0("eta ~ a*treat", cv),
          paste0("behavior ~ b*eta + cp*treat", cv), "ind := a*b", sep = "\n")
  } else {
    m <- if (scoring == "sum") "efficacy_sum" else "efficacy"
    paste(paste0(m, " ~ a*treat", cv), paste0("behavior ~ b*", m, " + cp*treat", cv), "ind := a*b", sep = "\n")
  }
}
rows <- list()
for (att in c(FALSE, TRUE)) for (age in c(FALSE, TRUE)) for (scoring in c("mean", "sum", "latent"))
  for (cov in c("none", "age")) for (missing in c("listwise", "ml")) for (est in c("ML", "MLR")) {
    keep <- !((att & hit_att) | (age & hit_age))
    d <- d0[keep, ]
    f <- sem(model(scoring, cov), data = d, missing = missing, estimator = est)
    pe <- parameterEstimates(f)
    g <- function(lab, col) pe[pe$label == lab, col][1]
    med <- if (scoring == "latent") "eta" else if (scoring == "sum") "efficacy_sum" else "efficacy"
    psi <- pe$est[pe$lhs == med & pe$op == "~~" & pe$rhs == med]
    s2 <- pe$est[pe$lhs == "behavior" & pe$op == "~~" & pe$rhs == "behavior"]
    b <- g("b", "est")
    rows[[length(rows) + 1]] <- list(
      exclude_attention = att, exclude_age = age, scoring = scoring, covariates = cov,
      missing = if (missing == "ml") "fiml" else "listwise", estimator = est, n = lavInspect(f, "nobs"),
      a = g("a", "est"), a_se = g("a", "se"), b = b, b_se = g("b", "se"), direct = g("cp", "est"),
      direct_se = g("cp", "se"), indirect = g("ind", "est"), indirect_se = g("ind", "se"),
      rho_model = b * psi / sqrt(psi * (b^2 * psi + s2)), converged = lavInspect(f, "converged"))
  }
tab <- do.call(rbind, lapply(rows, as.data.frame))
# Variance decomposition of the ML indirect effects over the five choices that move the estimate:
# Type II sums of squares of the main-effects model = drop1(lm(...)) "Sum of Sq"; the residual = interactions.
ml <- tab[tab$estimator == "ML", ]
ml[c("exclude_attention", "exclude_age", "scoring", "covariates", "missing")] <-
  lapply(ml[c("exclude_attention", "exclude_age", "scoring", "covariates", "missing")], factor)
fit <- lm(indirect ~ exclude_attention + exclude_age + scoring + covariates + missing, data = ml)
dr <- drop1(fit)
ss <- setNames(as.list(dr[-1, "Sum of Sq"]), rownames(dr)[-1])
res <- list(
  source = list(script = "tests/reference/multiverse.R", data = "tests/reference/multiverse_mastery.csv",
                R = R.version.string, lavaan = as.character(packageVersion("lavaan")),
                note = paste("sem(model, data, missing = 'listwise' | 'ml', estimator = 'ML' | 'MLR'), defaults",
                             "(fixed.x = TRUE, first loading 1); ind := a*b delta-method SE; rho_model =",
                             "b psi / sqrt(psi (b^2 psi + sigma2)) from the estimates; variance decomposition:",
                             "drop1(lm(indirect ~ exclude_attention + exclude_age + scoring + covariates + missing))",
                             "on the 48 ML rows")),
  specifications = tab,
  drop1 = list(call = "drop1(lm(indirect ~ exclude_attention + exclude_age + scoring + covariates + missing, data = ML rows))",
               sum_of_sq = ss, df = setNames(as.list(dr[-1, "Df"]), rownames(dr)[-1]),
               rss = dr[1, "RSS"], total_ss = sum((ml$indirect - mean(ml$indirect))^2))
)
writeLines(toJSON(res, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"),
           file.path(out_dir, "multiverse_mastery.json"))
