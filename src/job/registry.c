/*
 * registry.c — handler names to functions, and modules loaded by path.
 *
 * Registration happens before jobs start (the host and its re-executed
 * workers must agree on the table), so a mutex and a small array are
 * enough; modules are loaded once per path and keep their own table, so a
 * module's names never shadow the program's.
 */
#include "job/job_int.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;
static void init_once(void) {
  errand__loop_init();
  errand__table_set_size(&errand__jobs_table, sizeof(errand__jobs));
}

errand__jobs *errand__jobs_get(errand_jobs *h, int *code) {
  pthread_once(&once, init_once);
  errand__jobs *j = errand__table_get(&errand__jobs_table, h, code);
  if (!j)
    errand__err(*code, *code == ERRAND_E_INVALID
                           ? "job registry handle is NULL"
                           : "job registry handle was released or is not a "
                             "registry");
  return j;
}

static errand__jobs *jobs_new(void) {
  pthread_once(&once, init_once);
  errand__jobs *j = errand__table_alloc(&errand__jobs_table, 1);
  if (j)
    pthread_mutex_init(&j->mu, NULL);
  return j;
}

void errand__jobs_unref(errand__jobs *j) {
  if (!errand__ref_dec(j))
    return;
  for (size_t i = 0; i < j->n; i++)
    free(j->h[i].name);
  free(j->h);
  errand__module *m = j->modules;
  while (m) {
    errand__module *next = m->next;
    errand__jobs_unref(m->reg);
    /* The module stays mapped: handlers of jobs still running may be in
     * it, and unloading code under a running thread is never worth it. */
    free(m->path);
    free(m);
    m = next;
  }
  pthread_mutex_destroy(&j->mu);
  errand__table_free(&errand__jobs_table, j);
}

int errand_jobs_create(errand_jobs **out) {
  if (!out)
    return errand__err(ERRAND_E_INVALID, "out is NULL");
  errand__jobs *j = jobs_new();
  if (!j)
    return errand__err(ERRAND_E_NOMEM, "no memory for a job registry");
  *out = errand__handle_of(&errand__jobs_table, j);
  return 0;
}

int errand_jobs_release(errand_jobs *h) {
  if (!h)
    return 0;
  int code;
  errand__jobs *j = errand__jobs_get(h, &code);
  if (!j)
    return code;
  errand__jobs_unref(j);
  return 0;
}

static errand__handler *find_locked(errand__jobs *j, const char *name) {
  for (size_t i = 0; i < j->n; i++)
    if (strcmp(j->h[i].name, name) == 0)
      return &j->h[i];
  return NULL;
}

static int register_in(errand__jobs *j, const char *name, errand_job_fn fn,
                       void *arg) {
  size_t len = strlen(name);
  if (len == 0 || len > 255 || strchr(name, '#'))
    return errand__err(ERRAND_E_INVALID,
                       "job name must be 1..255 bytes without '#'");
  pthread_mutex_lock(&j->mu);
  errand__handler *h = find_locked(j, name);
  if (h) {
    h->fn = fn;
    h->arg = arg;
    pthread_mutex_unlock(&j->mu);
    return 0;
  }
  if (j->n == j->cap) {
    size_t cap = j->cap ? j->cap * 2 : 16;
    errand__handler *nh = errand__realloc(j->h, cap * sizeof *nh);
    if (!nh) {
      pthread_mutex_unlock(&j->mu);
      return errand__err(ERRAND_E_NOMEM, "no memory to register %s", name);
    }
    j->h = nh;
    j->cap = cap;
  }
  char *copy = errand__strdup(name);
  if (!copy) {
    pthread_mutex_unlock(&j->mu);
    return errand__err(ERRAND_E_NOMEM, "no memory to register %s", name);
  }
  j->h[j->n++] = (errand__handler){copy, fn, arg};
  pthread_mutex_unlock(&j->mu);
  return 0;
}

int errand_jobs_register(errand_jobs *h, const char *name, errand_job_fn fn,
                         void *arg) {
  int code;
  errand__jobs *j = errand__jobs_get(h, &code);
  if (!j)
    return code;
  if (!name || !fn)
    return errand__err(ERRAND_E_INVALID, "name and fn are required");
  return register_in(j, name, fn, arg);
}

/* Loads path into a fresh registry (not yet linked anywhere). */
static int load(const char *path, errand__module **out, char *why,
                size_t whylen) {
  void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!dl) {
    const char *e = dlerror();
    snprintf(why, whylen, "cannot load module %s: %s", path, e ? e : "?");
    return ERRAND_E_INVALID;
  }
  int (*init)(errand_jobs *);
  *(void **)&init = dlsym(dl, "errand_module_init");
  if (!init) {
    snprintf(why, whylen, "module %s has no errand_module_init", path);
    dlclose(dl);
    return ERRAND_E_INVALID;
  }
  errand__module *m = errand__calloc(1, sizeof *m);
  errand__jobs *reg = jobs_new();
  char *p = errand__strdup(path);
  if (!m || !reg || !p) {
    free(m);
    free(p);
    if (reg)
      errand__jobs_unref(reg);
    dlclose(dl);
    snprintf(why, whylen, "no memory to load module %s", path);
    return ERRAND_E_NOMEM;
  }
  int rc = init(errand__handle_of(&errand__jobs_table, reg));
  if (rc != 0) {
    snprintf(why, whylen, "module %s: errand_module_init returned %d", path,
             rc);
    errand__jobs_unref(reg);
    free(m);
    free(p);
    dlclose(dl);
    return ERRAND_E_INVALID;
  }
  m->path = p;
  m->dl = dl;
  m->reg = reg;
  *out = m;
  return 0;
}

int errand_jobs_load_module(errand_jobs *h, const char *path) {
  int code;
  errand__jobs *j = errand__jobs_get(h, &code);
  if (!j)
    return code;
  if (!path)
    return errand__err(ERRAND_E_INVALID, "path is NULL");
  errand__module *m;
  char why[512];
  int rc = load(path, &m, why, sizeof why);
  if (rc)
    return errand__err(rc, "%s", why);
  /* Copy its names into this registry; keep the module for ownership. */
  pthread_mutex_lock(&m->reg->mu);
  for (size_t i = 0; i < m->reg->n && rc == 0; i++)
    rc = register_in(j, m->reg->h[i].name, m->reg->h[i].fn, m->reg->h[i].arg);
  pthread_mutex_unlock(&m->reg->mu);
  pthread_mutex_lock(&j->mu);
  m->next = j->modules;
  j->modules = m;
  pthread_mutex_unlock(&j->mu);
  return rc;
}

int errand__jobs_resolve(errand__jobs *j, const char *name, errand_job_fn *fn,
                         void **arg, char *why, size_t whylen) {
  if (strncmp(name, "file://", 7) != 0) {
    pthread_mutex_lock(&j->mu);
    errand__handler *h = find_locked(j, name);
    if (h) {
      *fn = h->fn;
      *arg = h->arg;
    }
    pthread_mutex_unlock(&j->mu);
    if (!h) {
      snprintf(why, whylen, "unknown job name: %s", name);
      return ERRAND_E_INVALID;
    }
    return 0;
  }
  /* file://path[#handler] */
  const char *path = name + 7;
  const char *hash = strchr(path, '#');
  size_t plen = hash ? (size_t)(hash - path) : strlen(path);
  char *p = errand__strndup(path, plen);
  if (!p) {
    snprintf(why, whylen, "no memory");
    return ERRAND_E_NOMEM;
  }
  pthread_mutex_lock(&j->mu);
  errand__module *m = j->modules;
  while (m && strcmp(m->path, p) != 0)
    m = m->next;
  if (!m) {
    int rc = load(p, &m, why, whylen);
    if (rc) {
      pthread_mutex_unlock(&j->mu);
      free(p);
      return rc;
    }
    m->next = j->modules;
    j->modules = m;
  }
  pthread_mutex_unlock(&j->mu);
  free(p);
  errand__jobs *reg = m->reg;
  int rc = 0;
  pthread_mutex_lock(&reg->mu);
  errand__handler *h = NULL;
  if (hash)
    h = find_locked(reg, hash + 1);
  else if (reg->n == 1)
    h = &reg->h[0];
  else
    h = find_locked(reg, "main");
  if (h) {
    *fn = h->fn;
    *arg = h->arg;
  } else {
    snprintf(why, whylen,
             hash ? "module %.*s has no handler %s"
                  : "module %.*s registers several handlers and none is "
                    "'main': name one with #handler%s",
             (int)plen, path, hash ? hash + 1 : "");
    rc = ERRAND_E_INVALID;
  }
  pthread_mutex_unlock(&reg->mu);
  return rc;
}
