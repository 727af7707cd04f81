//! What the tasks' unit tests share.

use burn::module::Module;
use ember_train::task::Task;

/// The distillation teacher of every task: `student` taken off autodiff computes `batch`'s
/// logits off autodiff (from `T::without_autodiff`'s batch), the same logits as through
/// autodiff's dispatch to 1e-5 (whose unfused layer norm and softmax round differently).
pub(crate) fn assert_the_teacher_computes_off_autodiff<T: Task>(
    student: &T::Model,
    batch: &T::Batch,
) {
    let teacher = student.valid();
    let off = T::logits(&teacher, &T::without_autodiff(batch));
    assert!(
        !off.is_autodiff(),
        "the teacher's forward ran through autodiff"
    );
    let through = T::logits(&teacher, batch);
    assert!(through.is_autodiff());
    off.into_data().assert_approx_eq::<f32>(
        &through.into_data(),
        burn::tensor::Tolerance::rel_abs(1e-5, 1e-6),
    );
}
