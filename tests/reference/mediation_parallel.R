# Reference values for the parallel-mediator test in tests/test_mediation.py.
# Run from the repository root:  Rscript tests/reference/mediation_parallel.R
# Writes tests/reference/mediation_parallel_jobs.json.  Needs lavaan, jsonlite.
# (Second "mediator" econ_hard is a numeric check of the parallel-mediator algebra only.)
suppressPackageStartupMessages({ library(lavaan); library(jsonlite) })
jobs <- read.csv("/work/shared/datasets/jobs_ii.csv")
m <- '
  job_seek ~ a1*treat + age
  econ_hard ~ a2*treat + age
  depress2 ~ b1*job_seek + b2*econ_hard + cp*treat + age
  job_seek ~~ econ_hard
  ind1 := a1*b1
  ind2 := a2*b2
  ind := a1*b1 + a2*b2
  total := cp + a1*b1 + a2*b2
  pm := (a1*b1 + a2*b2)/(cp + a1*b1 + a2*b2)
'
fit <- sem(m, data = jobs, fixed.x = TRUE, meanstructure = TRUE)
pe <- parameterEstimates(fit)
pe <- pe[pe$label != "", c("label", "est", "se", "pvalue")]
writeLines(toJSON(list(
  source = "lavaan::sem(fixed.x=TRUE, meanstructure=TRUE, estimator='ML') on JOBS II, parallel mediators with free residual covariance",
  model = m, n = nrow(jobs),
  label = pe$label, est = pe$est, se = pe$se, pvalue = pe$pvalue,
  versions = list(R = R.version.string, lavaan = as.character(packageVersion("lavaan")),
                  jsonlite = as.character(packageVersion("jsonlite")))
), auto_unbox = TRUE, digits = NA, pretty = TRUE), "tests/reference/mediation_parallel_jobs.json")
