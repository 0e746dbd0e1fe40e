#include <stdio.h>
__thread int gd_counter = 5;                 /* general dynamic: TLS descriptors */
__thread int ie_var __attribute__((tls_model("initial-exec"))) = 7;
int bump(void) { gd_counter += 10; ie_var += 1; return gd_counter + ie_var; }
