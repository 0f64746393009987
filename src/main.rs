fn main() {
    print!("{}", descheduler::api::crd_yaml().unwrap());
}
