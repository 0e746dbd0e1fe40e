__thread long plugin_tls[4] = {1, 2, 3, 4};  /* dynamic TLS: module loaded by dlopen */
long plugin_sum(void) { long s = 0; for (int i = 0; i < 4; i++) { plugin_tls[i] *= 10; s += plugin_tls[i]; } return s; }
