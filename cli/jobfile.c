/*
 * jobfile.c — the job-file parser.
 *
 * One job per logical line:
 *
 *     [key=value ...] name: command ...
 *
 * where both the settings in brackets and the "name:" are optional.  The
 * idea that keeps it unambiguous for shell text: settings open with '['
 * directly followed by a letter (the shell's test command is "[ " with a
 * space), and a name is a single word of [A-Za-z0-9_.-] directly followed by
 * ':' and then a blank or the end of the line ("echo a:b", "date +%H:%M" and
 * "http://x" are commands).  A line ending in '\' continues on the next one,
 * as in sh.  Everything is checked before anything runs: the parser keeps
 * going after an error and reports each as FILE:LINE: message.
 */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- small parsers shared with the options ------------------------------- */

int cli_parse_duration(const char *s, int64_t *ms) {
  if (!s || !*s)
    return -1;
  double total = 0;
  const char *p = s;
  /* One or more number+unit groups: "1m30s", "1.5s", "250ms", "3". */
  while (*p) {
    char *end;
    errno = 0;
    double v = strtod(p, &end);
    if (end == p || errno || v < 0 || v != v)
      return -1;
    p = end;
    double unit;
    if (strncmp(p, "ms", 2) == 0)
      unit = 1, p += 2;
    else if (*p == 's')
      unit = 1000, p++;
    else if (*p == 'm')
      unit = 60000, p++;
    else if (*p == 'h')
      unit = 3600000, p++;
    else if (*p == '\0')
      unit = 1000; /* a bare number is seconds */
    else
      return -1;
    total += v * unit;
  }
  if (total > 1e13)
    return -1;
  *ms = (int64_t)(total + 0.5);
  return 0;
}

int cli_parse_priority(const char *s, errand_priority *p) {
  static const struct {
    const char *name;
    errand_priority p;
  } names[] = {{"user-blocking", ERRAND_PRIORITY_USER_BLOCKING},
               {"high", ERRAND_PRIORITY_USER_BLOCKING},
               {"user-visible", ERRAND_PRIORITY_USER_VISIBLE},
               {"normal", ERRAND_PRIORITY_USER_VISIBLE},
               {"background", ERRAND_PRIORITY_BACKGROUND},
               {"low", ERRAND_PRIORITY_BACKGROUND}};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcmp(s, names[i].name) == 0) {
      *p = names[i].p;
      return 0;
    }
  return -1;
}

void cli_format_duration(char *buf, size_t len, int64_t ms) {
  if (ms < 1000)
    snprintf(buf, len, "%dms", (int)ms);
  else if (ms < 60000)
    snprintf(buf, len, "%.1fs", (double)ms / 1000.0);
  else if (ms < 3600000)
    snprintf(buf, len, "%dm%02ds", (int)(ms / 60000), (int)(ms / 1000 % 60));
  else
    snprintf(buf, len, "%dh%02dm", (int)(ms / 3600000), (int)(ms / 60000 % 60));
}

/* ---- the parser ---------------------------------------------------------- */

typedef struct parser {
  const char *display;
  FILE *errs;
  int errors, max_errors;
  int line;
} parser;

static void perr(parser *P, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void perr(parser *P, int line, const char *fmt, ...) {
  P->errors++;
  if (P->errors > P->max_errors)
    return;
  va_list ap;
  va_start(ap, fmt);
  fprintf(P->errs, "%s:%d: ", P->display, line);
  vfprintf(P->errs, fmt, ap);
  fputc('\n', P->errs);
  va_end(ap);
}

static int is_name_char(int c) {
  return isalnum(c) || c == '_' || c == '.' || c == '-';
}

static const char *skip_blank(const char *s) {
  while (*s == ' ' || *s == '\t')
    s++;
  return s;
}

static char *strndup_trim(const char *s, size_t n) {
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
    n--;
  return strndup(s, n);
}

/* A default display name for an unnamed job: its command, blanks squeezed,
 * cut at 24 characters. */
static char *default_name(const char *cmd) {
  char buf[32];
  size_t n = 0;
  int blank = 0;
  for (const char *p = cmd; *p && n < 24; p++) {
    if (*p == ' ' || *p == '\t' || *p == '\n') {
      blank = 1;
      continue;
    }
    if (blank && n)
      buf[n++] = ' ';
    blank = 0;
    if (n < 24)
      buf[n++] = *p;
  }
  buf[n] = '\0';
  if (strlen(cmd) > n && n >= 24) {
    buf[21] = buf[22] = buf[23] = '.';
  }
  return strdup(buf);
}

/* Reads a setting's value at *pp (bare word, "quoted", or JSON for args).
 * Returns malloc'ed text or NULL after reporting. */
static char *read_value(parser *P, const char *key, const char **pp) {
  const char *p = *pp;
  if (strcmp(key, "args") == 0) {
    json_error_t e;
    json_t *v = json_loadb(p, strlen(p), JSON_DISABLE_EOF_CHECK, &e);
    if (!v) {
      perr(P, P->line, "args: not a JSON array or object: %s (at column %d)",
           e.text, e.column);
      return NULL;
    }
    p += e.position;
    char *txt = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(v);
    *pp = p;
    return txt;
  }
  if (*p == '"') {
    p++;
    char *buf = malloc(strlen(p) + 1);
    size_t n = 0;
    if (!buf)
      return NULL;
    while (*p && *p != '"') {
      if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
        p++;
      buf[n++] = *p++;
    }
    if (*p != '"') {
      free(buf);
      perr(P, P->line, "%s: missing closing '\"'", key);
      return NULL;
    }
    buf[n] = '\0';
    *pp = p + 1;
    return buf;
  }
  const char *start = p;
  while (*p && *p != ' ' && *p != '\t' && *p != ']')
    p++;
  *pp = p;
  return strndup(start, (size_t)(p - start));
}

static const char *const known_keys =
    "priority, timeout, delay, retries, mode, module, args";

/* Applies one setting; reports and returns -1 on a bad one. */
static int apply(parser *P, cli_job *j, const char *key, const char *val,
                 int *has_mode_text, char **mode_text) {
  if (strcmp(key, "priority") == 0) {
    if (cli_parse_priority(val, &j->priority)) {
      perr(P, P->line,
           "priority '%s': use user-blocking (high), user-visible (normal) "
           "or background (low)",
           val);
      return -1;
    }
  } else if (strcmp(key, "timeout") == 0 || strcmp(key, "delay") == 0) {
    int64_t ms;
    if (cli_parse_duration(val, &ms)) {
      perr(P, P->line, "%s '%s': not a duration (e.g. 500ms, 2s, 1.5m, 1h)",
           key, val);
      return -1;
    }
    if (key[0] == 't')
      j->timeout_ms = ms;
    else
      j->delay_ms = ms;
  } else if (strcmp(key, "retries") == 0) {
    char *end;
    long v = strtol(val, &end, 10);
    if (!*val || *end || v < 0 || v > 1000) {
      perr(P, P->line, "retries '%s': not a number from 0 to 1000", val);
      return -1;
    }
    j->retries = (int)v;
  } else if (strcmp(key, "mode") == 0) {
    *has_mode_text = 1;
    free(*mode_text);
    *mode_text = strdup(val);
  } else if (strcmp(key, "module") == 0) {
    if (!*val) {
      perr(P, P->line, "module: empty path");
      return -1;
    }
    free(j->module);
    j->module = strdup(val);
  } else if (strcmp(key, "args") == 0) {
    free(j->args);
    j->args = strdup(val);
  } else {
    perr(P, P->line, "unknown setting '%s' (known: %s)", key, known_keys);
    return -1;
  }
  return 0;
}

/* Makes "file:///abs/path.so#handler" out of "path.so#handler"; the file
 * must exist now (relative paths are taken from the current directory). */
static char *module_ref(parser *P, const char *text) {
  const char *path = text;
  if (strncmp(path, "file://", 7) == 0)
    path += 7;
  const char *hash = strchr(path, '#');
  size_t plen = hash ? (size_t)(hash - path) : strlen(path);
  char *p = strndup(path, plen);
  if (!p)
    return NULL;
  if (hash && !hash[1]) {
    perr(P, P->line, "module '%s': empty handler name after '#'", text);
    free(p);
    return NULL;
  }
  if (hash && strchr(hash + 1, '#')) {
    perr(P, P->line, "module '%s': a handler name has no '#'", text);
    free(p);
    return NULL;
  }
  char abs[PATH_MAX];
  struct stat st;
  if (!realpath(p, abs)) {
    perr(P, P->line, "module '%s': %s", p, strerror(errno));
    free(p);
    return NULL;
  }
  if (stat(abs, &st) != 0 || !S_ISREG(st.st_mode)) {
    perr(P, P->line, "module '%s': not a regular file", p);
    free(p);
    return NULL;
  }
  free(p);
  size_t n = strlen(abs) + (hash ? strlen(hash) : 0) + 8;
  char *ref = malloc(n);
  if (ref)
    snprintf(ref, n, "file://%s%s", abs, hash ? hash : "");
  return ref;
}

static void job_free(cli_job *j) {
  free(j->name);
  free(j->command);
  free(j->module);
  free(j->args);
}

/* Parses one logical line.  Returns 1 with *j filled, 0 for nothing (blank
 * or comment), -1 after reporting an error. */
static int parse_line(parser *P, const char *s, cli_job *j) {
  memset(j, 0, sizeof *j);
  j->timeout_ms = -1;
  j->retries = -1;
  j->line = P->line;
  s = skip_blank(s);
  if (*s == '\0' || *s == '#')
    return 0;
  int bad = 0, has_mode = 0;
  char *mode_text = NULL;

  if (s[0] == '[' && isalpha((unsigned char)s[1])) {
    const char *p = s + 1;
    for (;;) {
      p = skip_blank(p);
      if (*p == ']') {
        p++;
        break;
      }
      if (*p == '\0') {
        perr(P, P->line, "missing ']' after the settings");
        bad = 1;
        goto done_settings;
      }
      const char *k = p;
      while (isalnum((unsigned char)*p) || *p == '_' || *p == '-')
        p++;
      if (p == k || *p != '=') {
        const char *e = p;
        while (*e && *e != ' ' && *e != '\t' && *e != ']')
          e++;
        if (!strchr(k, ']'))
          perr(P, P->line, "missing ']' after the settings");
        else
          perr(P, P->line, "expected key=value in the settings, found '%.*s'",
               (int)(e == k ? 1 : e - k), k);
        bad = 1;
        goto done_settings;
      }
      char *key = strndup(k, (size_t)(p - k));
      p++; /* '=' */
      char *val = read_value(P, key, &p);
      if (!val) {
        free(key);
        bad = 1;
        goto done_settings;
      }
      if (apply(P, j, key, val, &has_mode, &mode_text))
        bad = 1;
      free(key);
      free(val);
    }
    s = skip_blank(p);
  }
done_settings:
  if (bad) {
    free(mode_text);
    job_free(j);
    return -1;
  }

  /* name: */
  const char *q = s;
  while (is_name_char((unsigned char)*q))
    q++;
  if (q > s && *q == ':' && (q[1] == '\0' || q[1] == ' ' || q[1] == '\t')) {
    if (q - s > 64) {
      perr(P, P->line, "name '%.*s...' is longer than 64 characters", 20, s);
      bad = 1;
    }
    j->name = strndup(s, (size_t)(q - s));
    s = skip_blank(q + 1);
  }
  if (*s)
    j->command = strndup_trim(s, strlen(s));

  /* Settings after the name are a common slip: they would run as a shell
   * command "[timeout=1s]". */
  if (j->command && j->command[0] == '[' &&
      isalpha((unsigned char)j->command[1])) {
    const char *e = j->command + 1;
    while (isalnum((unsigned char)*e) || *e == '_' || *e == '-')
      e++;
    if (*e == '=') {
      perr(P, P->line,
           "settings must come first: write [key=value ...] name: command");
      bad = 1;
    }
  }

  if (j->module) {
    j->kind = CLI_MODULE;
    if (j->command) {
      perr(P, P->line,
           "a module job takes no command (its arguments go in args=...)");
      bad = 1;
    } else {
      char *ref = module_ref(P, j->module);
      if (!ref)
        bad = 1;
      free(j->module);
      j->module = ref;
    }
    if (!j->args)
      j->args = strdup("[]");
  } else {
    j->kind = CLI_SHELL;
    if (j->args) {
      perr(P, P->line, "args=... is for module jobs (add module=PATH#handler)");
      bad = 1;
    }
    if (!j->command && !bad) {
      perr(P, P->line, "no command%s%s%s", j->name ? " after '" : "",
           j->name ? j->name : "", j->name ? ":'" : "");
      bad = 1;
    }
  }

  if (has_mode && !bad) {
    static const struct {
      const char *name;
      cli_mode m;
    } modes[] = {{"pool", CLI_MODE_POOL},
                 {"dedicated", CLI_MODE_DEDICATED},
                 {"worker", CLI_MODE_WORKER},
                 {"process", CLI_MODE_PROCESS}};
    j->mode = CLI_MODE_DEFAULT;
    for (size_t i = 0; i < 4; i++)
      if (strcmp(mode_text, modes[i].name) == 0)
        j->mode = modes[i].m;
    if (j->mode == CLI_MODE_DEFAULT) {
      perr(P, P->line,
           "mode '%s': use pool or dedicated (commands), worker, process, "
           "pool or dedicated (modules)",
           mode_text);
      bad = 1;
    } else if (j->kind == CLI_SHELL && j->mode != CLI_MODE_POOL &&
               j->mode != CLI_MODE_DEDICATED) {
      perr(P, P->line,
           "mode '%s' is for module jobs; a command runs in mode pool or "
           "dedicated",
           mode_text);
      bad = 1;
    }
  }
  free(mode_text);
  if (bad) {
    job_free(j);
    return -1;
  }
  if (!j->name) {
    if (j->kind == CLI_SHELL) {
      j->name = default_name(j->command);
    } else {
      const char *h = strrchr(j->module, '#');
      const char *b = strrchr(j->module, '/');
      j->name = strdup(h ? h + 1 : b ? b + 1 : j->module);
    }
  }
  if (j->mode == CLI_MODE_DEFAULT)
    j->mode = j->kind == CLI_SHELL ? CLI_MODE_POOL : CLI_MODE_WORKER;
  return 1;
}

int cli_jobfile_parse(const char *display, FILE *f, cli_jobfile *out,
                      FILE *errs, int max_errors) {
  parser P = {.display = display, .errs = errs, .max_errors = max_errors};
  memset(out, 0, sizeof *out);
  char *buf = NULL;
  size_t cap = 0;
  ssize_t len;
  int lineno = 0;
  char *logical = NULL;
  size_t llen = 0;
  int start_line = 0;

  for (;;) {
    len = getline(&buf, &cap, f);
    int eof = len < 0;
    if (!eof) {
      lineno++;
      if (memchr(buf, '\0', (size_t)len)) {
        perr(&P, lineno, "a NUL byte: this is not a text file");
        continue;
      }
      while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        buf[--len] = '\0';
      if (!logical) {
        const char *t = skip_blank(buf);
        start_line = lineno;
        if (*t == '#' || *t == '\0')
          continue; /* comments do not continue */
      }
      int cont = len > 0 && buf[len - 1] == '\\';
      if (cont)
        buf[--len] = '\0';
      char *nl = realloc(logical, llen + (size_t)len + 1);
      if (!nl) {
        perr(&P, lineno, "out of memory");
        break;
      }
      logical = nl;
      memcpy(logical + llen, buf, (size_t)len + 1);
      llen += (size_t)len;
      if (cont)
        continue;
    } else if (!logical) {
      break;
    }
    /* A complete logical line (or the file ended after a '\'). */
    P.line = start_line;
    cli_job j;
    int r = parse_line(&P, logical, &j);
    free(logical);
    logical = NULL;
    llen = 0;
    if (r == 1) {
      for (size_t i = 0; i < out->n; i++)
        if (strcmp(out->jobs[i].name, j.name) == 0) {
          perr(&P, j.line, "name '%s' is already used on line %d", j.name,
               out->jobs[i].line);
          job_free(&j);
          r = -1;
          break;
        }
    }
    if (r == 1) {
      if (out->n == out->cap) {
        size_t nc = out->cap ? out->cap * 2 : 16;
        cli_job *nj = realloc(out->jobs, nc * sizeof *nj);
        if (!nj) {
          perr(&P, j.line, "out of memory");
          job_free(&j);
          break;
        }
        out->jobs = nj;
        out->cap = nc;
      }
      j.id = (int)out->n + 1;
      out->jobs[out->n++] = j;
    }
    if (eof)
      break;
  }
  free(buf);
  free(logical);
  if (ferror(f)) {
    P.errors++;
    fprintf(errs, "%s: read error: %s\n", display, strerror(errno));
  }
  if (P.errors == 0 && out->n == 0) {
    P.errors++;
    fprintf(errs,
            "%s: no jobs (each non-blank line that is not a # comment "
            "is a job)\n",
            display);
  }
  if (P.errors > P.max_errors)
    fprintf(errs, "%s: %d more error(s) not shown\n", display,
            P.errors - P.max_errors);
  return P.errors;
}

void cli_jobfile_free(cli_jobfile *jf) {
  for (size_t i = 0; i < jf->n; i++)
    job_free(&jf->jobs[i]);
  free(jf->jobs);
  memset(jf, 0, sizeof *jf);
}
