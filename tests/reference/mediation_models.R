# Reference values for efficacy.mediation.compare_models (tests/test_mediation.py).
# JOBS II (data/raw/jobs_ii/data.csv): treat -> job_seek -> depress2 with covariates econ_hard, sex, age.
# lavaan's chi-square and df of the full-mediation and full-reverse-mediation path models (the partial
# models are saturated). fixed.x = TRUE (lavaan's default) changes the log-likelihood constant but not the
# chi-square, so only chisq/df/LRT are compared.
# Run from the repository root:  Rscript tests/reference/mediation_models.R
library(lavaan)
library(jsonlite)
d <- read.csv("data/raw/jobs_ii/data.csv")
d <- d[complete.cases(d[, c("treat", "job_seek", "depress2", "econ_hard", "sex", "age")]), ]
covs <- "econ_hard + sex + age"
models <- list(
  mediation = paste0("job_seek ~ treat + ", covs, "\n depress2 ~ job_seek + treat + ", covs),
  full_mediation = paste0("job_seek ~ treat + ", covs, "\n depress2 ~ job_seek + ", covs),
  full_reverse_mediation = paste0("depress2 ~ treat + ", covs, "\n job_seek ~ depress2 + ", covs),
  common_cause = paste0("job_seek ~ treat + ", covs, "\n depress2 ~ treat + ", covs, "\n job_seek ~~ depress2")
)
out <- list(source = list(call = "lavaan::sem(model, data, estimator = 'ML')", lavaan = as.character(packageVersion("lavaan")),
                          data = "data/raw/jobs_ii/data.csv (complete cases)"), n = nrow(d))
for (nm in names(models)) {
  f <- sem(models[[nm]], data = d)
  fm <- fitMeasures(f, c("chisq", "df", "pvalue"))
  out[[nm]] <- list(chisq = unname(fm["chisq"]), df = unname(fm["df"]), pvalue = unname(fm["pvalue"]))
}
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "tests/reference/mediation_models_jobs.json")
