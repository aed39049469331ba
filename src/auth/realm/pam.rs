//! The `pam` realm: authenticate through the host's PAM stack, like `PVE::Auth::PAM`.
//!
//! Every prompt is answered with the password, `PAM_RHOST` carries the client address, and
//! `pam_authenticate` is followed by `pam_acct_mgmt` (expired or locked accounts fail there).
//! Blocking (PAM modules may sleep on failure): run it in `spawn_blocking`. The process must
//! run as root for `pam_unix` to read `/etc/shadow` for other users.
//!
//! `libpam.so.0` is opened at run time (`dlopen`), on the first `pam` login, instead of being
//! linked: building aclgate needs no `libpam0g-dev`, and a host without libpam still runs the
//! gateway and answers a `pam` login with [`RealmError::Pam`] saying that PAM is missing.

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::sync::OnceLock;

use super::RealmError;

/// Authenticate `user` (the name without `@pam`) with PAM service `service`.
pub(super) fn authenticate(
    service: &str,
    user: &str,
    password: &str,
    rhost: Option<&str>,
) -> Result<(), RealmError> {
    // PAM takes C strings: a NUL byte could only truncate what PAM sees.
    let (Ok(service), Ok(user), Ok(password)) = (
        CString::new(service),
        CString::new(user),
        CString::new(password),
    ) else {
        return Err(RealmError::InvalidCredentials);
    };
    let rhost = match rhost.map(CString::new) {
        Some(Ok(h)) => Some(h),
        Some(Err(_)) => return Err(RealmError::InvalidCredentials),
        None => None,
    };
    let pam = libpam().map_err(|e| RealmError::Pam(e.clone()))?;
    let conv = PamConv {
        conv: answer_with_password,
        appdata_ptr: password.as_ptr().cast_mut().cast::<c_void>(),
    };
    let mut handle: *mut c_void = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; `conv` and `password` (its appdata) outlive
    // the transaction, which `Transaction` ends with `pam_end` before they are dropped.
    let rc = unsafe { (pam.start)(service.as_ptr(), user.as_ptr(), &conv, &mut handle) };
    if rc != PAM_SUCCESS || handle.is_null() {
        return Err(pam_error(pam, std::ptr::null_mut(), "pam_start", rc));
    }
    let tx = Transaction { pam, handle };
    if let Some(host) = &rhost {
        // SAFETY: `tx.handle` is a live handle; PAM copies the item string.
        let rc = unsafe { (pam.set_item)(tx.handle, PAM_RHOST, host.as_ptr().cast()) };
        tx.check("pam_set_item(PAM_RHOST)", rc)?;
    }
    // SAFETY: `tx.handle` is a live handle (here and below).
    let rc = unsafe { (pam.authenticate)(tx.handle, 0) };
    tx.check("authenticate", rc)?;
    // SAFETY: as above.
    let rc = unsafe { (pam.acct_mgmt)(tx.handle, 0) };
    tx.check("account", rc)?;
    Ok(())
}

/// The PAM library, opened once per process; an error says why it cannot be used.
fn libpam() -> Result<&'static Pam, &'static String> {
    static PAM: OnceLock<Result<Pam, String>> = OnceLock::new();
    PAM.get_or_init(|| {
        Pam::open().map_err(|e| {
            // libloading's message is "dlopen failed"; the loader's reason is its source.
            let reason = std::error::Error::source(&e).map_or(e.to_string(), |s| s.to_string());
            let message = format!("PAM is not available on this host ({reason})");
            // Once per process: every `pam` login fails from now on, for this reason.
            tracing::error!("{message}; `pam` realm logins fail");
            message
        })
    })
    .as_ref()
}

fn pam_error(pam: &Pam, handle: *mut c_void, step: &str, rc: c_int) -> RealmError {
    match rc {
        PAM_AUTH_ERR => RealmError::InvalidCredentials,
        _ => {
            // SAFETY: pam_strerror accepts any handle (Linux-PAM ignores it) and returns a
            // static string or NULL.
            let text = unsafe { (pam.strerror)(handle, rc) };
            let reason = if text.is_null() {
                format!("error {rc}")
            } else {
                // SAFETY: a non-NULL result is a NUL-terminated static string.
                unsafe { CStr::from_ptr(text) }
                    .to_string_lossy()
                    .into_owned()
            };
            RealmError::Pam(format!("{step}: {reason}"))
        }
    }
}

// === libpam ===

/// `libpam.so.0`'s soname: the runtime library (package libpam0g), not the `-dev` symlink.
const LIBPAM: &str = "libpam.so.0";

const PAM_SUCCESS: c_int = 0;
const PAM_BUF_ERR: c_int = 5;
const PAM_AUTH_ERR: c_int = 7;
const PAM_CONV_ERR: c_int = 19;
const PAM_RHOST: c_int = 4;
const PAM_PROMPT_ECHO_OFF: c_int = 1;
const PAM_PROMPT_ECHO_ON: c_int = 2;

/// `struct pam_message`.
#[repr(C)]
struct PamMessage {
    msg_style: c_int,
    msg: *const c_char,
}

/// `struct pam_response`; PAM frees `resp` and the array with `free()`.
#[repr(C)]
struct PamResponse {
    resp: *mut c_char,
    resp_retcode: c_int,
}

/// `struct pam_conv`.
#[repr(C)]
struct PamConv {
    conv: ConvFn,
    appdata_ptr: *mut c_void,
}

type ConvFn = unsafe extern "C" fn(
    c_int,
    *mut *const PamMessage,
    *mut *mut PamResponse,
    *mut c_void,
) -> c_int;
type StartFn =
    unsafe extern "C" fn(*const c_char, *const c_char, *const PamConv, *mut *mut c_void) -> c_int;
type SetItemFn = unsafe extern "C" fn(*mut c_void, c_int, *const c_void) -> c_int;
type FlagsFn = unsafe extern "C" fn(*mut c_void, c_int) -> c_int;
type StrerrorFn = unsafe extern "C" fn(*mut c_void, c_int) -> *const c_char;

/// The entry points of libpam, resolved once; the library stays loaded for the process.
struct Pam {
    start: StartFn,
    set_item: SetItemFn,
    authenticate: FlagsFn,
    acct_mgmt: FlagsFn,
    end: FlagsFn,
    strerror: StrerrorFn,
    /// Keeps the function pointers above valid.
    _library: libloading::Library,
}

// === impl Pam ===

impl Pam {
    fn open() -> Result<Pam, libloading::Error> {
        // SAFETY: loading libpam runs its initialisers, which have no preconditions; each
        // symbol is read with the signature of its declaration in <security/pam_appl.h>.
        unsafe {
            let library = libloading::Library::new(LIBPAM)?;
            Ok(Pam {
                start: *library.get::<StartFn>(b"pam_start\0")?,
                set_item: *library.get::<SetItemFn>(b"pam_set_item\0")?,
                authenticate: *library.get::<FlagsFn>(b"pam_authenticate\0")?,
                acct_mgmt: *library.get::<FlagsFn>(b"pam_acct_mgmt\0")?,
                end: *library.get::<FlagsFn>(b"pam_end\0")?,
                strerror: *library.get::<StrerrorFn>(b"pam_strerror\0")?,
                _library: library,
            })
        }
    }
}

/// A started PAM transaction; dropping it calls `pam_end`.
struct Transaction {
    pam: &'static Pam,
    handle: *mut c_void,
}

// === impl Transaction ===

impl Transaction {
    /// `Ok` for `PAM_SUCCESS`, else the error of `step`.
    fn check(&self, step: &str, rc: c_int) -> Result<(), RealmError> {
        if rc == PAM_SUCCESS {
            Ok(())
        } else {
            Err(pam_error(self.pam, self.handle, step, rc))
        }
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        // SAFETY: the handle came from a successful pam_start and is ended exactly once.
        unsafe { (self.pam.end)(self.handle, PAM_SUCCESS) };
    }
}

/// The conversation function: every prompt is answered with the password (`appdata`, a C
/// string); messages from modules are acknowledged with no answer.
///
/// # Safety
/// Called by libpam with `num_msg` messages in `msg` (Linux-PAM: an array of pointers) and
/// the `appdata_ptr` given to `pam_start`.
unsafe extern "C" fn answer_with_password(
    num_msg: c_int,
    msg: *mut *const PamMessage,
    resp: *mut *mut PamResponse,
    appdata: *mut c_void,
) -> c_int {
    let Ok(count) = usize::try_from(num_msg) else {
        return PAM_CONV_ERR;
    };
    if count == 0 || msg.is_null() || resp.is_null() || appdata.is_null() {
        return PAM_CONV_ERR;
    }
    // SAFETY: the answer array is handed to PAM, which frees it with free(): allocate it with
    // calloc (zeroed: every `resp` NULL, every retcode 0).
    let answers =
        unsafe { libc::calloc(count, std::mem::size_of::<PamResponse>()) }.cast::<PamResponse>();
    if answers.is_null() {
        return PAM_BUF_ERR;
    }
    let password = appdata.cast::<c_char>().cast_const();
    for i in 0..count {
        // SAFETY: PAM passes `count` valid message pointers.
        let style = unsafe { (**msg.add(i)).msg_style };
        if style != PAM_PROMPT_ECHO_OFF && style != PAM_PROMPT_ECHO_ON {
            continue;
        }
        // SAFETY: `password` is the NUL-terminated CString given to pam_start.
        let copy = unsafe { libc::strdup(password) };
        if copy.is_null() {
            // SAFETY: free what was allocated so far; PAM never sees this array.
            unsafe { free_answers(answers, count) };
            return PAM_BUF_ERR;
        }
        // SAFETY: `i < count`, inside the allocation.
        unsafe { (*answers.add(i)).resp = copy };
    }
    // SAFETY: `resp` is PAM's out-pointer.
    unsafe { *resp = answers };
    PAM_SUCCESS
}

/// Free an answer array made by [`answer_with_password`], wiping the password copies.
///
/// # Safety
/// `answers` holds `count` entries allocated with calloc, each `resp` NULL or from strdup.
unsafe fn free_answers(answers: *mut PamResponse, count: usize) {
    for i in 0..count {
        // SAFETY: per the contract above.
        unsafe {
            let r = (*answers.add(i)).resp;
            if !r.is_null() {
                std::ptr::write_bytes(r, 0, libc::strlen(r));
                libc::free(r.cast());
            }
        }
    }
    // SAFETY: allocated with calloc.
    unsafe { libc::free(answers.cast()) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_with_nul_bytes_never_reach_pam() {
        for (service, user, password) in [
            ("svc\0x", "u", "p"),
            ("svc", "u\0root", "p"),
            ("svc", "u", "p\0"),
        ] {
            let got = authenticate(service, user, password, None);
            assert!(
                matches!(got, Err(RealmError::InvalidCredentials)),
                "authenticate({service:?}, {user:?}) gave {got:?}"
            );
        }
    }

    #[test]
    fn the_conversation_answers_prompts_with_the_password() {
        let password = CString::new("s3cret").expect("no NUL");
        let prompts = [
            (PAM_PROMPT_ECHO_OFF, c"Password: "),
            (3, c"an error message"),
            (PAM_PROMPT_ECHO_ON, c"Login: "),
        ];
        let messages: Vec<PamMessage> = prompts
            .iter()
            .map(|(style, text)| PamMessage {
                msg_style: *style,
                msg: text.as_ptr(),
            })
            .collect();
        let mut pointers: Vec<*const PamMessage> = messages.iter().map(|m| m as *const _).collect();
        let mut answers: *mut PamResponse = std::ptr::null_mut();
        // SAFETY: the arguments are what libpam passes; the answers are freed below.
        let rc = unsafe {
            answer_with_password(
                3,
                pointers.as_mut_ptr(),
                &mut answers,
                password.as_ptr().cast_mut().cast(),
            )
        };
        assert_eq!(rc, PAM_SUCCESS);
        // SAFETY: three answers were allocated.
        let got: Vec<Option<String>> = (0..3)
            .map(|i| unsafe {
                let r = (*answers.add(i)).resp;
                (!r.is_null()).then(|| CStr::from_ptr(r).to_string_lossy().into_owned())
            })
            .collect();
        // SAFETY: made by answer_with_password.
        unsafe { free_answers(answers, 3) };
        assert_eq!(
            got,
            [Some("s3cret".to_owned()), None, Some("s3cret".to_owned())]
        );
    }
}
