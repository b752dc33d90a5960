# Reference values for efficacy.measurement.invariance with robust and ordinal estimators (issue #18):
# tests/test_invariance_robust.py. Run from the repository root:  Rscript tests/reference/invariance_robust.R
# Writes tests/reference/invariance_robust_holzinger.json (R calls, package versions and results) and
# tests/reference/invariance_robust_hs_cut.csv (the ordinal data: categorical_hs_cut.csv with the school column).
#
# Holzinger & Swineford (1939), 301 children in two schools (Pasteur, Grant-White), three factors of three items.
# 1. ML, MLR and MLM invariance sequences (lavaan::cfa(group.equal = ...), marker identification), fit measures
#    and lavTestLRT between successive steps (ML: standard; MLR/MLM: satorra.bentler.2001 and .2010).
# 2. Partial scalar invariance the way semTools users search it: measEq.syntax(ID.fac = "std.lv",
#    group.equal = c("loadings", "intercepts")), lavTestScore(fit)$uni on the intercept constraints, release the
#    largest, refit with group.partial, repeat until delta CFI (against the metric model) > -0.010.
# 3. Ordinal: x1..x9 cut into 3-5 categories (categorical.R), WLSMV, Wu & Estabrook (2016) sequence written by
#    measEq.syntax(ID.fac = "std.lv", ID.cat = "Wu.Estabrook.2016", parameterization = "delta"): configural,
#    thresholds, thresholds + loadings, thresholds + loadings + intercepts; lavTestLRT default (satorra.2000,
#    scaled.shifted) between successive steps; lavTestScore(scalar fit)$uni (loadings and thresholds).
# 4. Cluster-robust MLR invariance on the simulated classroom data (sem_robust.R), groups = even / odd classroom.
suppressPackageStartupMessages({
  library(jsonlite)
  library(lavaan)
  library(semTools)
})
out_dir <- file.path("tests", "reference")
versions <- list(R = R.version.string, lavaan = as.character(packageVersion("lavaan")),
                 semTools = as.character(packageVersion("semTools")))
mod <- "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
hs <- read.csv(file.path(out_dir, "measurement_hs1939.csv"))
fm <- c("chisq", "df", "pvalue", "chisq.scaled", "df.scaled", "pvalue.scaled", "chisq.scaling.factor",
        "cfi", "tli", "rmsea", "srmr", "cfi.scaled", "rmsea.scaled", "cfi.robust", "tli.robust", "rmsea.robust")
fitm <- function(f) {
  keys <- intersect(fm, names(fitMeasures(f)))
  x <- as.list(fitMeasures(f, keys))
  if (lavInspect(f, "options")$test == "scaled.shifted") x$chisq.shift.parameters <- lavInspect(f, "test")$scaled.shifted$shift.parameter
  lapply(x, function(v) if (is.na(v)) NA else unname(v))
}
lrt_list <- function(x) list(chisq_diff = x[["Chisq diff"]][-1], df_diff = x[["Df diff"]][-1],
                             pvalue = x[["Pr(>Chisq)"]][-1])
steps <- c("configural", "metric", "scalar", "strict")
eqs <- list(configural = "", metric = "loadings", scalar = c("loadings", "intercepts"),
            strict = c("loadings", "intercepts", "residuals"))

# ---- 1. ML / MLR / MLM sequences -------------------------------------------------------------------
seqs <- list()
for (est in c("ML", "MLR", "MLM")) {
  fits <- lapply(eqs, function(e) cfa(mod, data = hs, group = "school", group.equal = e, estimator = est))
  out <- list(fit = lapply(fits, fitm))
  if (est == "ML") {
    out$lrt <- lrt_list(lavTestLRT(fits$configural, fits$metric, fits$scalar, fits$strict))
  } else {
    for (meth in c("satorra.bentler.2001", "satorra.bentler.2010")) {
      pair <- lapply(1:3, function(i) lavTestLRT(fits[[i]], fits[[i + 1]], method = meth))
      out[[paste0("lrt_", meth)]] <- list(chisq_diff = sapply(pair, function(x) x[["Chisq diff"]][2]),
                                          df_diff = sapply(pair, function(x) x[["Df diff"]][2]),
                                          pvalue = sapply(pair, function(x) x[["Pr(>Chisq)"]][2]))
    }
  }
  seqs[[est]] <- out
}

# ---- 2. partial scalar invariance by score tests (ML) ----------------------------------------------
meq <- function(eq, partial = NULL, est = "ML")
  measEq.syntax(configural.model = mod, data = hs, group = "school", ID.fac = "std.lv", group.equal = eq,
                group.partial = partial, estimator = est, return.fit = TRUE)
metric <- meq("loadings")
label_of <- function(fit, plabel) {
  pt <- parTable(fit)
  r <- pt[pt$plabel == plabel, ]
  if (r$op == "|") return(paste0(r$lhs, "|", r$rhs))
  paste(r$lhs, if (r$op == "~1") "~ 1" else paste(r$op, r$rhs))
}
score_table <- function(fit) {
  st <- suppressWarnings(lavTestScore(fit))$uni
  par <- sapply(st$lhs, function(p) label_of(fit, p))
  keep <- grepl("~ 1$", par) & !grepl("^(visual|textual|speed)", par)
  data.frame(parameter = par[keep], X2 = st$X2[keep], df = st$df[keep], p = st$p.value[keep])
}
freed <- character(0); search <- list(); first <- NULL
cur <- meq(c("loadings", "intercepts"))
dcfi <- fitMeasures(cur, "cfi")[[1]] - fitMeasures(metric, "cfi")[[1]]
while (dcfi <= -0.010) {
  tab <- score_table(cur)
  tab <- tab[!(tab$parameter %in% freed), ]
  if (is.null(first)) first <- tab
  best <- tab[which.max(tab$X2), ]
  freed <- c(freed, best$parameter)
  cur <- meq(c("loadings", "intercepts"), partial = gsub(" ", "", freed))
  dcfi <- fitMeasures(cur, "cfi")[[1]] - fitMeasures(metric, "cfi")[[1]]
  search[[length(search) + 1]] <- list(parameter = best$parameter, X2 = best$X2, df = best$df, p = best$p,
                                       fit = fitm(cur), delta_cfi = dcfi)
}
score <- list(first_step = as.list(first), search = search, freed = freed,
              scalar_fit = fitm(meq(c("loadings", "intercepts"))), metric_fit = fitm(metric))

# ---- 3. ordinal (WLSMV), Wu & Estabrook (2016) ---------------------------------------------------
cut <- read.csv(file.path(out_dir, "categorical_hs_cut.csv"))[, paste0("x", 1:9)]
cut <- data.frame(school = hs$school, cut)
write.csv(cut, file.path(out_dir, "invariance_robust_hs_cut.csv"), row.names = FALSE)
ord <- paste0("x", 1:9)
weq <- list(configural = "", thresholds = "thresholds", metric = c("thresholds", "loadings"),
            scalar = c("thresholds", "loadings", "intercepts"))
wfits <- lapply(weq, function(e)
  measEq.syntax(configural.model = mod, data = cut, group = "school", ordered = ord, parameterization = "delta",
                ID.fac = "std.lv", ID.cat = "Wu.Estabrook.2016", group.equal = e, return.fit = TRUE))
wpair <- lapply(1:3, function(i) lavTestLRT(wfits[[i]], wfits[[i + 1]]))
# score tests of the scalar fit's equality constraints (loadings and thresholds: measEq.syntax fixes the
# Wu & Estabrook intercepts at 0 in every group, so lavTestScore has no intercept constraint to release)
wst <- suppressWarnings(lavTestScore(wfits$scalar))$uni
wscore <- list(parameter = sapply(wst$lhs, function(p) label_of(wfits$scalar, p)), X2 = wst$X2, df = wst$df,
               p = wst$p.value)
wlrt <- list(chisq_diff = sapply(wpair, function(x) x[["Chisq diff"]][2]),
             df_diff = sapply(wpair, function(x) x[["Df diff"]][2]),
             pvalue = sapply(wpair, function(x) x[["Pr(>Chisq)"]][2]),
             scale = sapply(wpair, function(x) attr(x, "scale")[2]),
             shift = sapply(wpair, function(x) attr(x, "shift")[2]))

# ---- 4. cluster-robust (MLR, cluster = classroom): sem_robust_classroom.csv, groups = even / odd classroom ids --
cls <- read.csv(file.path(out_dir, "sem_robust_classroom.csv"))
cls$grp <- ifelse(cls$classroom %% 2 == 0, "even", "odd")
cmod <- "f1 =~ y1 + y2 + y3\nf2 =~ y4 + y5 + y6"
cfits <- lapply(eqs, function(e) cfa(cmod, data = cls, group = "grp", cluster = "classroom", estimator = "MLR",
                                     group.equal = e))
cpair <- lapply(1:3, function(i) lavTestLRT(cfits[[i]], cfits[[i + 1]], method = "satorra.bentler.2010"))
cluster <- list(model = cmod, fit = lapply(cfits, fitm),
                lrt = list(chisq_diff = sapply(cpair, function(x) x[["Chisq diff"]][2]),
                           df_diff = sapply(cpair, function(x) x[["Df diff"]][2]),
                           pvalue = sapply(cpair, function(x) x[["Pr(>Chisq)"]][2])))

write_json(list(
  source = c(list(
    data = "lavaan::HolzingerSwineford1939 (measurement_hs1939.csv); ordinal: categorical_hs_cut.csv + school (invariance_robust_hs_cut.csv)",
    model = mod,
    sequences = "cfa(mod, data, group = 'school', group.equal = ..., estimator = 'ML' | 'MLR' | 'MLM'); lavTestLRT(m_k, m_k+1) (ML: standard; MLR/MLM: method = 'satorra.bentler.2001' and 'satorra.bentler.2010')",
    score = "measEq.syntax(mod, data, group = 'school', ID.fac = 'std.lv', group.equal = c('loadings', 'intercepts'), group.partial = freed, return.fit = TRUE); lavTestScore(fit)$uni restricted to intercept constraints; free the largest X2 until cfi(partial) - cfi(metric) > -0.010",
    cluster = "sem_robust_classroom.csv, grp = even/odd classroom id; cfa(cmod, data = cls, group = 'grp', cluster = 'classroom', estimator = 'MLR', group.equal = ...); lavTestLRT(m_k, m_k+1, method = 'satorra.bentler.2010')",
    ordinal = "measEq.syntax(mod, data = cut, group = 'school', ordered = x1..x9, parameterization = 'delta', ID.fac = 'std.lv', ID.cat = 'Wu.Estabrook.2016', group.equal = ..., return.fit = TRUE) (estimator WLSMV); lavTestLRT(m_k, m_k+1) default (satorra.2000, scaled.shifted)"),
    versions),
  steps = steps, group_equal = eqs, ML = seqs$ML, MLR = seqs$MLR, MLM = seqs$MLM, score = score,
  wlsmv = list(steps = names(weq), group_equal = weq, fit = lapply(wfits, fitm), lrt = wlrt, score = wscore),
  cluster = cluster),
  file.path(out_dir, "invariance_robust_holzinger.json"), digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null")
