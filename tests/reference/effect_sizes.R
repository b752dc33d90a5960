# Reference values for deterministic effect sizes and response indices (issue #24), read by
# tests/test_references.py.  Run from the repository root:  Rscript tests/reference/effect_sizes.R
# Writes tests/reference/effect_sizes.json
#
#  * escalc: metafor::escalc() for every measure efficacy.meta.escalc supports (SMD, MD, COR, ZCOR,
#    OR, RR, RD), on metadat data sets and on 2x2 tables with zero cells under each `to` rule.
#  * conversions: Borenstein, Hedges, Higgins & Rothstein (2009), Introduction to Meta-Analysis,
#    ch. 7 (eqs. 7.1-7.2 log odds ratio <-> d; 7.5 d -> r with a = (n1 + n2)^2 / (n1 n2); 7.6 r -> d),
#    evaluated here from the book's formulas; metafor::transf.ztor / exp for back-transforms and
#    metafor::transf.dtorpb (equal-n form, a = 4) as an independent check of d -> r.
#  * response indices: the `careless` package is not installable here, so the defining formulas are
#    written out in R: longstring = the longest run of identical consecutive answers (Johnson 2005;
#    Curran 2016), a missing answer breaks a run; IRV = the within-person SD over answered items with
#    divisor k - 1 (Dunn, Heggestad, Shanock & Theilgard 2018; careless::irv uses sd(na.rm = TRUE)).
#  * Bandura (2006) scale scores: magnitude = number of tasks rated at or above the threshold,
#    strength = mean confidence over answered tasks, both NA below min_items answered tasks.
#  * generality (Bandura 1977): pairwise-complete Pearson r of domain scores, and the share of the
#    first eigenvalue of the listwise-complete correlation matrix, lambda_1 / m.
suppressPackageStartupMessages({library(metafor); library(jsonlite)})
options(warn = 1)
es_list <- function(e) list(yi = as.numeric(e$yi), vi = as.numeric(e$vi))

# ---------------------------------------------------------------------------------------------- escalc
normand <- metadat::dat.normand1999
molloy <- metadat::dat.molloy2014
bcg <- read.csv("data/literature/bcg.csv")
zero <- data.frame(ai = c(4, 0, 0, 10, 3, 0), bi = c(119, 10, 12, 0, 0, 20),
                   ci = c(11, 3, 0, 5, 7, 0), di = c(128, 7, 15, 9, 0, 25))
ttab <- data.frame(ti = c(2.1, -1.3, 0.4), n1i = c(20, 35, 12), n2i = c(22, 30, 15))
escalc_ref <- list(
  data = list(normand = normand[, c("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i")],
              molloy = molloy[, c("ri", "ni")], zero = zero, ttab = ttab),
  SMD = es_list(escalc("SMD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i, data = normand)),
  SMD_t = es_list(escalc("SMD", ti = ti, n1i = n1i, n2i = n2i, data = ttab)),
  MD = es_list(escalc("MD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i, data = normand)),
  COR = es_list(escalc("COR", ri = ri, ni = ni, data = molloy)),
  ZCOR = es_list(escalc("ZCOR", ri = ri, ni = ni, data = molloy)),
  bcg = list(), zero = list())
for (m in c("OR", "RR", "RD")) {
  escalc_ref$bcg[[m]] <- es_list(escalc(m, ai = tpos, bi = tneg, ci = cpos, di = cneg, data = bcg))
  # the (ai, n1i, ci, n2i) form of the same tables
  escalc_ref$bcg[[paste0(m, "_n")]] <- es_list(escalc(m, ai = tpos, n1i = tpos + tneg, ci = cpos,
                                                       n2i = cpos + cneg, data = bcg))
  for (to in c("only0", "all", "none")) {
    e <- suppressWarnings(escalc(m, ai = ai, bi = bi, ci = ci, di = di, data = zero, to = to))
    escalc_ref$zero[[paste(m, to, sep = "_")]] <- es_list(e)
  }
  escalc_ref$zero[[paste(m, "only0_add1", sep = "_")]] <-
    es_list(escalc(m, ai = ai, bi = bi, ci = ci, di = di, data = zero, add = 1))
}

# ------------------------------------------------------------------------------------------ conversions
d <- c(-1.5, -0.4, 0, 0.2, 0.5, 0.8, 2.5)
n1 <- c(10, 25, 40, 50, 12, 100, 30)
n2 <- c(30, 25, 20, 50, 80, 100, 31)
r <- c(-0.9, -0.3, 0, 0.1, 0.35, 0.6, 0.95)
lor <- c(-2, -0.5, 0, 0.3, 1, 1.7, 3)
z <- c(-2, -0.5, 0, 0.3, 1, 1.7, 3)
conversions <- list(
  d = d, n1 = n1, n2 = n2, r = r, logor = lor, z = z,
  d_to_r_equal = d / sqrt(d^2 + 4),                                  # Borenstein eq. 7.5, n1 = n2
  d_to_r_metafor = transf.dtorpb(d),                                 # metafor, no group sizes: a = 4
  d_to_r_n = d / sqrt(d^2 + (n1 + n2)^2 / (n1 * n2)),               # Borenstein eq. 7.5
  r_to_d = 2 * r / sqrt(1 - r^2),                                    # Borenstein eq. 7.6
  d_to_logor = d * pi / sqrt(3),                                     # Borenstein eq. 7.2
  logor_to_d = lor * sqrt(3) / pi,                                   # Borenstein eq. 7.1
  transf_ZCOR = transf.ztor(z),
  transf_OR = exp(lor),
  transf_RR = exp(lor))

# -------------------------------------------------------------------------------------- response indices
set.seed(2406)
resp <- matrix(sample(1:5, 40 * 12, replace = TRUE, prob = c(.1, .2, .3, .25, .15)), 40, 12)
resp[1:6, ] <- rbind(rep(3, 12), c(rep(2, 5), rep(4, 7)), c(1, 1, NA, 1, 1, 1, 2, 2, 2, 2, 2, 5),
                     rep(NA, 12), c(NA, NA, 4, rep(NA, 9)), c(5, 5, 5, NA, NA, 5, 5, 5, 5, 1, 1, 1))
resp[cbind(sample(7:40, 25, replace = TRUE), sample(1:12, 25, replace = TRUE))] <- NA
longstring_def <- function(x) {
  if (all(is.na(x))) return(NA_real_)
  best <- 0; run <- 0; prev <- NA
  for (v in x) {
    if (is.na(v)) { run <- 0 } else if (!is.na(prev) && v == prev) { run <- run + 1 } else { run <- 1 }
    best <- max(best, run); prev <- v
  }
  best
}
irv_def <- function(x) if (sum(!is.na(x)) < 2) NA_real_ else sd(x, na.rm = TRUE)
indices <- list(responses = resp, longstring = apply(resp, 1, longstring_def), irv = apply(resp, 1, irv_def))

# ------------------------------------------------------------------------------------------- Bandura
tasks <- matrix(round(runif(30 * 6, 0, 100) / 10) * 10, 30, 6)
tasks[cbind(sample(1:30, 20, replace = TRUE), sample(1:6, 20, replace = TRUE))] <- NA
tasks[1, ] <- c(50, 50, 40, NA, NA, NA)   # ratings at the threshold count
tasks[2, ] <- c(NA, NA, NA, NA, 90, NA)   # below min_items
threshold <- 50; min_items <- 3
answered <- rowSums(!is.na(tasks))
magnitude <- rowSums(tasks >= threshold, na.rm = TRUE)
strength <- rowMeans(tasks, na.rm = TRUE)
magnitude[answered < min_items] <- NA; strength[answered < min_items] <- NA
bandura <- list(tasks = tasks, threshold = threshold, min_items = min_items,
                magnitude = magnitude, strength = strength)

# ------------------------------------------------------------------------------------------ generality
g <- rnorm(60)
dom <- cbind(a = g + rnorm(60), b = 0.5 * g + rnorm(60), c = g + 2 * rnorm(60))
dom[c(3, 17, 40), "a"] <- NA; dom[c(5, 17), "c"] <- NA
R_pair <- cor(dom, use = "pairwise.complete.obs")
n_pair <- crossprod(!is.na(dom))
cc <- dom[complete.cases(dom), ]
generality <- list(scores = dom, columns = colnames(dom),
                   r = c(ab = R_pair[1, 2], ac = R_pair[1, 3], bc = R_pair[2, 3]),
                   n = c(ab = n_pair[1, 2], ac = n_pair[1, 3], bc = n_pair[2, 3]),
                   general_factor_share = eigen(cor(cc))$values[1] / ncol(dom), n_complete = nrow(cc))

out <- list(
  source = list(
    script = "tests/reference/effect_sizes.R",
    what = paste("metafor::escalc for SMD, MD, COR, ZCOR, OR, RR, RD; Borenstein et al. (2009, ch. 7)",
                 "conversions and metafor transf.*; defining formulas of longstring (Johnson 2005; Curran",
                 "2016), IRV (Dunn et al. 2018), Bandura (2006) magnitude/strength and generality"),
    data = paste("metadat::dat.normand1999 (SMD, MD), metadat::dat.molloy2014 (COR, ZCOR),",
                 "data/literature/bcg.csv = metadat::dat.bcg (OR, RR, RD); other inputs are written",
                 "into this file (set.seed(2406))"),
    R = R.version.string, metafor = as.character(packageVersion("metafor")),
    metadat = as.character(packageVersion("metadat"))),
  escalc = escalc_ref, conversions = conversions, indices = indices, bandura = bandura,
  generality = generality)
write_json(out, "tests/reference/effect_sizes.json", digits = NA, auto_unbox = TRUE, pretty = TRUE,
           na = "null", matrix = "rowmajor")
